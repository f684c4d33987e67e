"""course_utils.comparison.run and .results: all seven methods really train on a tiny klue-shaped BERT; summary,
files."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from course_utils.adapters.params import count_trainable
from course_utils.comparison import results
from course_utils.comparison import run as compare
from course_utils.comparison.results import format_table, read_results, summarize, write_results
from course_utils.comparison.run import (
    COMPARED_METHODS,
    METHOD_LABELS,
    MethodSpec,
    build_model,
    default_specs,
    peft_config,
    run_comparison,
    saved_bytes,
    vector_length_for,
)
from course_utils.publish.runner import comparison_table
from course_utils.runs.selection import grid_for
from course_utils.runtime.models import load_tokenizer, quantized_modules

TINY_HIDDEN = 64  # bitsandbytes' CPU 4-bit inference path needs in_features >= its blocksize (64)


@pytest.fixture(scope="module")
def tiny_dir(tiny_klue_dir, tmp_path_factory):
    """conftest's tiny klue-shaped BERT and tokenizer, widened to hidden 64 (4-bit CPU eval needs >= 64)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-klue-64")
    BertTokenizerFast.from_pretrained(tiny_klue_dir).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig.from_pretrained(tiny_klue_dir)
    config.hidden_size, config.intermediate_size = TINY_HIDDEN, 2 * TINY_HIDDEN
    BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def tiny_data(n_train: int = 24, n_test: int = 12) -> DatasetDict:
    """Labelled sentences from the tiny vocabulary (positive: 최고/좋아요, negative: 별로/없다)."""
    features = Features({"document": Value("string"), "label": ClassLabel(names=["negative", "positive"])})

    def rows(n: int) -> dict:
        docs = ["영화 정말 최고 좋아요 !" if i % 2 else "영화 정말 별로 재미 없다 ㅠㅠ" for i in range(n)]
        return {"document": docs, "label": [i % 2 for i in range(n)]}

    return DatasetDict({"train": Dataset.from_dict(rows(n_train), features=features),
                        "test": Dataset.from_dict(rows(n_test), features=features)})


@pytest.fixture(scope="module")
def records(tiny_dir):
    """One real comparison: 7 methods x 2 seeds, 3 steps each, on the tiny model."""
    specs = default_specs("offline", TINY_HIDDEN)
    return run_comparison(specs, tiny_dir, load_tokenizer(tiny_dir), tiny_data(),
                          seeds=[0, 1], steps=3, batch_size=4, max_length=16, progress=lambda runs: runs)


# ----------------------------------------------------------------------------------------------------
# specs and configs
# ----------------------------------------------------------------------------------------------------


def test_default_specs_rates_and_sizes():
    specs = {s.method: s for s in default_specs("offline", 384)}
    assert tuple(specs) == COMPARED_METHODS
    for profile in ("colab", "full"):
        rates = {s.method: s.learning_rate for s in default_specs(profile, 768)}
        # Not searched on a GPU: LoRA paper Table 9, LoRA-family rates ~10x full fine-tuning, one rate for every
        # adapter method (4-bit included); WaveFT, whose `scaling=25` already multiplies its updates, a tenth of it.
        adapters = ("lora", "dora", "vblora", "qlora", "qdora")
        assert all(rates[m] / rates["full"] == pytest.approx(10.0) for m in adapters), profile
        assert rates["waveft"] == pytest.approx(rates["lora"] / 10)
    # Offline and demo: one rate per method, the one chosen on the validation split (tests/test_selection.py
    # checks it against the cache), each a point of its method's search grid.
    offline = {s.method: s.learning_rate for s in default_specs("offline", 384)}
    assert offline == {s.method: s.learning_rate for s in default_specs("demo", 384)}
    assert all(rate in grid_for(method) for method, rate in offline.items())
    assert specs["vblora"].options["vector_length"] == 128      # 256 does not divide MiniLM's 384
    assert specs["waveft"].options["n_frequency"] == 2 * 8 * 384  # LoRA r=8's count per 384x384 layer
    assert specs["qdora"].options["use_dora"] and specs["qdora"].quantized and not specs["dora"].quantized


def test_vector_length_for():
    assert (vector_length_for(768), vector_length_for(384), vector_length_for(32)) == (256, 128, 32)
    with pytest.raises(ValueError, match="no vector_length"):
        vector_length_for(7)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        vector_length_for(0)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="method must be one of"):
        MethodSpec("prefix", 1e-3)
    with pytest.raises(ValueError, match="learning_rate must be a number > 0"):
        MethodSpec("lora", 0)
    with pytest.raises(ValueError, match="profile_name must be one of"):
        default_specs("laptop", 384)
    with pytest.raises(ValueError, match="methods must be drawn from"):
        default_specs("offline", 384, methods=["lora", "ia3"])
    with pytest.raises(ValueError, match="records must not be empty"):
        summarize([])
    with pytest.raises(FileNotFoundError, match="run notebooks/05"):
        read_results("/nonexistent/05.json")


@pytest.mark.parametrize("method", ["lora", "dora", "vblora", "waveft"])
def test_built_model_counts_equal_params_formula(tiny_dir, method):
    """The model compare builds has exactly the trainable count course_utils.adapters.params predicts."""
    from course_utils.runtime.models import load_classifier

    spec = next(s for s in default_specs("offline", TINY_HIDDEN) if s.method == method)
    model = build_model(spec, tiny_dir)
    options = {k: v for k, v in spec.options.items() if k not in ("lora_alpha", "lora_dropout", "use_dora")}
    r = options.pop("r", 8)
    ours = count_trainable(load_classifier(tiny_dir), method=method, r=r,
                           target_modules=list(compare.TARGET_MODULES), modules_to_save=list(compare.HEADS),
                           **options)
    assert model.get_nb_trainable_parameters() == ours


def test_quantized_specs_load_nf4(tiny_dir):
    spec = next(s for s in default_specs("offline", TINY_HIDDEN) if s.method == "qdora")
    model = build_model(spec, tiny_dir)
    assert quantized_modules(model)                       # the base is bitsandbytes NF4
    assert peft_config(spec).use_dora                      # DoRA on the 4-bit base
    assert peft_config(MethodSpec("full", 1e-4)) is None


def test_saved_bytes_full_vs_adapter(tiny_dir):
    specs = {s.method: s for s in default_specs("offline", TINY_HIDDEN, methods=["full", "lora"])}
    full, lora = build_model(specs["full"], tiny_dir), build_model(specs["lora"], tiny_dir)
    n_full = sum(p.numel() for p in full.parameters())
    assert saved_bytes(full) >= 4 * n_full                    # every fp32 weight is written
    trainable = lora.get_nb_trainable_parameters()[0]
    assert 4 * trainable <= saved_bytes(lora) < 4 * n_full    # adapter + head copies only


# ----------------------------------------------------------------------------------------------------
# a real run of all seven methods
# ----------------------------------------------------------------------------------------------------


def test_every_method_and_seed_trains_and_evaluates(records):
    assert [(r["method"], r["seed"]) for r in records] == [(m, s) for m in COMPARED_METHODS for s in (0, 1)]
    for r in records:
        assert r["steps"] == 3
        assert 0.0 <= r["accuracy"] <= 1.0 and math.isfinite(r["eval_loss"])
        assert r["seconds_per_step"] > 0 and r["tensor_memory_mib"] > 0 and r["adapter_bytes"] > 0
        assert math.isnan(r["cuda_peak_mib"])  # CPU: no CUDA peak is claimed


def test_record_sizes_are_consistent(records):
    by = {r["method"]: r for r in records if r["seed"] == 0}
    assert by["full"]["trainable_params"] == by["full"]["total_params"]
    assert by["lora"]["trainable_params"] == by["qlora"]["trainable_params"]   # peft counts 4-bit unpacked
    assert by["dora"]["trainable_params"] > by["lora"]["trainable_params"]     # + magnitude vectors
    assert by["full"]["adapter_bytes"] > 4 * by["lora"]["adapter_bytes"]
    # the same adapter on a 4-bit base holds less memory; full FT holds the most
    assert by["qlora"]["tensor_memory_mib"] < by["lora"]["tensor_memory_mib"] < by["full"]["tensor_memory_mib"]
    assert by["qdora"]["tensor_memory_mib"] < by["dora"]["tensor_memory_mib"]
    for method in COMPARED_METHODS:  # shapes, not seeds, decide sizes and memory
        seeds = [r for r in records if r["method"] == method]
        assert len({(r["adapter_bytes"], r["tensor_memory_mib"], r["trainable_params"]) for r in seeds}) == 1


def test_summary_mean_and_spread(records):
    table = summarize(records)
    assert list(table["method"]) == list(COMPARED_METHODS)
    assert (table["n_seeds"] == 2).all()
    frame = pd.DataFrame(records)
    lora = frame[frame["method"] == "lora"]["accuracy"]
    row = table.set_index("method").loc["lora"]
    assert row["accuracy_mean"] == pytest.approx(lora.mean())
    assert row["accuracy_std"] == pytest.approx(abs(lora.iloc[0] - lora.iloc[1]) / math.sqrt(2))
    assert row["accuracy_min"] <= row["accuracy_mean"] <= row["accuracy_max"]


def test_write_read_and_make_run_table(records, tmp_path):
    started = time.time() - 1
    paths = write_results(records, {"profile": "test", "steps": 3, "seeds": [0, 1]}, tmp_path)
    payload = read_results(paths["json"])
    assert payload["meta"]["steps"] == 3 and len(payload["records"]) == len(records)
    assert [row["method"] for row in payload["summary"]] == list(COMPARED_METHODS)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["summary"][0]["label"] == "Full FT"
    assert len(pd.read_csv(paths["records_csv"])) == len(records)
    assert list(pd.read_csv(paths["summary_csv"])["method"]) == list(COMPARED_METHODS)
    text = comparison_table(tmp_path, since=started)
    assert text.startswith("method comparison") and "QDoRA" in text and "WaveFT" in text
    assert text == comparison_table(tmp_path).splitlines()[0] + "\n" + format_table(payload["summary"])
    assert comparison_table(tmp_path, since=time.time() + 60) is None   # stale results are not shown
    assert comparison_table(tmp_path / "empty") is None


def test_results_dir_follows_make_run(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert results.results_dir() == tmp_path
    monkeypatch.delenv("COURSE_BUILD_DIR")
    assert results.results_dir() == results.ROOT / "build"


def test_run_comparison_validates(tiny_dir):
    specs = default_specs("offline", TINY_HIDDEN, methods=["lora"])
    tok = load_tokenizer(tiny_dir)
    with pytest.raises(ValueError, match="seeds must be a non-empty list"):
        run_comparison(specs, tiny_dir, tok, tiny_data(), seeds=[], steps=1, batch_size=2, max_length=16)
    with pytest.raises(ValueError, match="each method once"):
        run_comparison(specs * 2, tiny_dir, tok, tiny_data(), seeds=[0], steps=1, batch_size=2,
                       max_length=16)


def test_stars():
    from course_utils.comparison.run import stars

    assert stars([1, 10, 100], log=True) == [5, 3, 1]
    assert stars([0.5, 0.9, 0.7], lower_is_better=False) == [1, 5, 3]
    assert stars([2.0, 2.0]) == [5, 5]
    with pytest.raises(ValueError, match="values > 0"):
        stars([0, 1], log=True)


def test_star_table_and_figure(records):
    from course_utils.comparison.run import comparison_figure, star_table

    summary = summarize(records)
    table = star_table(summary)
    assert list(table["method"]) == [METHOD_LABELS[m] for m in COMPARED_METHODS]
    by = table.set_index("method")
    assert by.loc["Full FT", "파라미터 효율"] == "★" and by.loc["Full FT", "메모리 절약"] == "★"
    assert by.loc["QLoRA", "메모리 절약"].count("★") > by.loc["LoRA", "메모리 절약"].count("★")
    # no speed stars: the offline seconds/step are CPU timings the notebook says not to compare (a GPU ranks them
    # the other way: DoRA and QLoRA are slower than LoRA)
    assert list(table.columns) == ["method", "파라미터 효율", "메모리 절약", "정확도"]
    fig = comparison_figure(summary, title="t")
    assert len(fig.axes) == 5
