"""Shared fixtures: a klue-shaped tiny BERT saved locally and NSMC-format files (no hub needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import course_utils  # noqa: F401  (first: filters bitsandbytes' import-time log line before any test imports it)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

# The grading fixtures are inputs for the grader (some deliberately broken), not notebooks for nbval to run.
collect_ignore_glob = ["fixtures/*"]

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "영화", "정말", "재미", "없다", "최고", "별로",
              "좋아요", "##요", "##다", "the", "movie", "good", "bad", "!", ".", "ㅋㅋ", "ㅠㅠ", "\""]


@pytest.fixture(scope="session")
def tiny_klue_dir(tmp_path_factory) -> Path:
    """A klue/bert-base-shaped (BERT, same module names) tiny model + WordPiece tokenizer in a folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-klue")
    (folder / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=False)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def nsmc_parquet_dir(tmp_path_factory) -> Path:
    """The bundled NSMC sample laid out like the hub's refs/convert/parquet branch."""
    import csv

    import pandas as pd

    folder = tmp_path_factory.mktemp("nsmc-parquet")
    frame = pd.read_csv(DATA / "nsmc_sample.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False,
                        dtype={"id": str, "document": str, "label": int})
    half = len(frame) * 3 // 4
    for split, part in (("train", frame.iloc[:half]), ("test", frame.iloc[half:])):
        (folder / "default" / split).mkdir(parents=True)
        part.to_parquet(folder / "default" / split / "0000.parquet", index=False)
    return folder


@pytest.fixture()
def nsmc_tsv_files(tmp_path) -> dict[str, Path]:
    """The bundled NSMC sample as raw train/test TSV files."""
    files = {"train": tmp_path / "ratings_train.txt", "test": tmp_path / "ratings_test.txt"}
    for path in files.values():
        shutil.copy(DATA / "nsmc_sample.tsv", path)
    return files


@pytest.fixture()
def no_student():
    """The practice edition: no student is set before or after the test (checkpoint and grading tests)."""
    from course_utils.exercises import variants

    variants.end_assignment()
    yield
    variants.end_assignment()


@pytest.fixture()
def shown(monkeypatch) -> list[dict]:
    """The MIME bundles a checkpoint's check()/hint()/solution() display."""
    from course_utils.exercises import engine

    bundles: list[dict] = []
    monkeypatch.setattr(engine, "_emit", bundles.append)
    return bundles
