"""Data loading: bundled reviews, NSMC via parquet and via raw TSV, and clear errors on bad files."""

from __future__ import annotations

import csv

import pytest
from conftest import DATA

from course_utils.runtime import data as D
from course_utils.runtime.env import make_profile, with_sizes


def _raw_rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]


def test_bundled_reviews_are_balanced_in_both_splits():
    ds = D.load_bundled_reviews()
    assert len(ds["train"]) + len(ds["test"]) >= 1000
    for split in ("train", "test"):
        counts = D.label_counts(ds[split])
        assert counts["negative"] == counts["positive"] > 0
        assert ds[split].column_names == ["document", "label"]


def test_bundled_splits_do_not_overlap():
    ds = D.load_bundled_reviews()
    assert not set(ds["train"]["document"]) & set(ds["test"]["document"])


def test_nsmc_tsv_keeps_quotes_and_empty_documents(nsmc_tsv_files):
    ds = D.read_tsv_splits(nsmc_tsv_files)
    rows = _raw_rows(DATA / "nsmc_sample.tsv")
    assert len(ds["train"]) == len(rows) >= 200
    assert ds["train"]["document"] == [r[1] for r in rows]  # nothing merged by quote handling
    assert ds["train"]["label"] == [int(r[2]) for r in rows]
    assert any(doc.startswith('"') for doc in ds["train"]["document"])
    assert "" in ds["train"]["document"] and None not in ds["train"]["document"]
    assert ds["train"].features["label"].names == ["negative", "positive"]


def test_nsmc_parquet_revision_path(nsmc_parquet_dir):
    ds = D.load_nsmc(hub_id=str(nsmc_parquet_dir))
    rows = _raw_rows(DATA / "nsmc_sample.tsv")
    assert len(ds["train"]) + len(ds["test"]) == len(rows)
    assert ds["train"].column_names == ["document", "label"]
    assert ds["test"]["document"] == [r[1] for r in rows[len(ds["train"]):]]


def test_nsmc_falls_back_to_tsv_when_parquet_fails(tmp_path, nsmc_tsv_files, capsys):
    ds = D.load_nsmc(hub_id=str(tmp_path / "no-such-repo"), tsv_files=nsmc_tsv_files)
    assert "raw TSV" in capsys.readouterr().out
    assert len(ds["test"]) == len(_raw_rows(DATA / "nsmc_sample.tsv"))


def test_colab_profile_data_path_with_local_stand_in(monkeypatch, nsmc_parquet_dir):
    monkeypatch.setattr(D, "NSMC_HUB_ID", str(nsmc_parquet_dir))
    profile = with_sizes(make_profile("colab", device="cpu"), n_train=50, n_validation=20, n_test=30)
    ds = D.load_course_data(profile)
    assert {k: len(v) for k, v in ds.items()} == {"train": 50, "validation": 20, "test": 30}
    assert all(doc.strip() for split in ds.values() for doc in split["document"])  # empty rows dropped


def test_offline_course_data_has_three_splits():
    profile = make_profile("offline")
    ds = D.load_course_data(profile)
    assert len(ds["validation"]) == profile.n_validation
    counts = D.label_counts(ds["validation"])
    assert abs(counts["negative"] - counts["positive"]) <= 1  # stratified


def _write(tmp_path, text: str):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("id\tdocument\tlabel\n1\tgood\t1\n2\ttoo\tmany\t1\n", r"bad\.tsv:3: expected 3 tab-separated fields, got 4"),
    ("id\tdocument\tlabel\n1\tgood\t1\n2\tmissing label\n", r"bad\.tsv:3: expected 3 tab-separated fields, got 2"),
    ("id\tdocument\tlabel\n1\tgood\tpositive\n", r"bad\.tsv:2: label must be 0 or 1"),
    ("id,document,label\n1,good,1\n", r"bad\.tsv:1: header must be"),
    ("", r"bad\.tsv: file is empty"),
    ("id\tdocument\tlabel\n", r"bad\.tsv: no data rows"),
])
def test_malformed_tsv_names_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(D.DataFormatError, match=message):
        D.read_tsv_splits({"train": path})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        D.read_tsv_splits({"train": tmp_path / "nope.tsv"})


def test_missing_column_is_named():
    from datasets import Dataset, DatasetDict

    with pytest.raises(D.DataFormatError, match="lacks columns \\['label'\\]"):
        D.to_schema(DatasetDict({"train": Dataset.from_dict({"document": ["x"]})}))


def test_carve_validation_checks_size():
    ds = D.load_bundled_reviews()
    with pytest.raises(ValueError, match="n_validation"):
        D.carve_validation(ds, 0)
    with pytest.raises(ValueError, match="'train' split"):
        D.carve_validation(D.DatasetDict({"test": ds["test"]}), 5)


def test_subsample_is_seeded_and_validated():
    ds = D.load_bundled_reviews()["train"]
    assert D.subsample(ds, 10, seed=1)["document"] == D.subsample(ds, 10, seed=1)["document"]
    assert D.subsample(ds, None) is ds
    with pytest.raises(ValueError, match="n must be positive"):
        D.subsample(ds, -3)


def test_unknown_data_source_is_rejected():
    from dataclasses import replace

    with pytest.raises(ValueError, match="data_source"):
        D.load_course_data(replace(make_profile("offline"), data_source="imdb"))


def test_loading_shows_no_dataset_progress_bars(nsmc_tsv_files, capfd):
    """Fresh files (tmp_path) make datasets generate, map and cast anew: none of its bars reach the student."""
    D.read_tsv_splits(nsmc_tsv_files)
    captured = capfd.readouterr()
    for noise in ("Generating", "Map", "Casting", "%|", "examples/s"):
        assert noise not in captured.err + captured.out, noise


def test_quiet_datasets_restores_the_previous_setting():
    import datasets

    datasets.enable_progress_bars()
    with D.quiet_datasets():
        assert datasets.are_progress_bars_disabled()
    assert not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    with D.quiet_datasets():
        pass
    assert datasets.are_progress_bars_disabled()   # a caller that turned bars off keeps them off
    datasets.enable_progress_bars()


def test_load_dataset_rejects_a_script_repository(tmp_path):
    """Why `load_dataset("nsmc")` fails on datasets >= 4: the hub repository is a loading script (nsmc.py)."""
    from datasets import load_dataset

    repo = tmp_path / "nsmc"
    repo.mkdir()
    (repo / "nsmc.py").write_text("# a loading script, as in the hub repository e9t/nsmc\n")
    with pytest.raises(RuntimeError, match="Dataset scripts are no longer supported, but found nsmc.py"):
        load_dataset(str(repo))
