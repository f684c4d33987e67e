"""course_utils.adapters.dora_analysis: ΔM/ΔD of a weight change, their correlations, and tracking them during
training."""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset, DatasetDict
from peft import LoraConfig, get_peft_model
from transformers import AutoTokenizer, BertForSequenceClassification

from course_utils.adapters.dora_analysis import (
    layer_weights,
    magnitude_direction_change,
    md_correlations,
    track_magnitude_direction,
)

# ----------------------------------------------------------------------------------------------------
# ΔM / ΔD (paper Eq. 3–4)
# ----------------------------------------------------------------------------------------------------


def test_md_pure_magnitude_change():
    w0 = torch.tensor([[3.0, 4.0], [0.0, 2.0]])  # row norms 5, 2
    wt = torch.tensor([[6.0, 8.0], [0.0, 1.0]])  # same directions, norms 10, 1
    delta_m, delta_d = magnitude_direction_change(w0, wt)
    assert delta_m == pytest.approx((5 + 1) / 2)
    assert delta_d == pytest.approx(0.0, abs=1e-12)


def test_md_pure_direction_change():
    w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    wt = torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 1.0]])  # 90°, 180°, unchanged; norms kept
    delta_m, delta_d = magnitude_direction_change(w0, wt)
    assert delta_m == pytest.approx(0.0, abs=1e-12)
    assert delta_d == pytest.approx((1 + 2 + 0) / 3)


def test_md_uses_rows_of_out_in_weight():
    """One magnitude per output feature: a (out, in) = (3, 2) weight averages over 3 rows, not 2 columns."""
    w0 = torch.ones(3, 2)
    wt = w0.clone()
    wt[0] *= 4  # only the first output row grows: its norm goes from √2 to 4√2
    delta_m, _ = magnitude_direction_change(w0, wt)
    assert delta_m == pytest.approx(3 * math.sqrt(2) / 3)


def test_md_zero_rows_and_bad_input():
    w0 = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    assert magnitude_direction_change(w0, w0) == (0.0, 0.0)
    assert magnitude_direction_change(w0, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same shape"):
        magnitude_direction_change(torch.ones(2, 3), torch.ones(3, 2))
    with pytest.raises(ValueError, match="2-D"):
        magnitude_direction_change(torch.ones(3), torch.ones(3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        magnitude_direction_change([[1.0]], torch.ones(1, 1))


def test_md_correlations():
    import pandas as pd

    table = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 3, "checkpoint": [1, 1, 2, 2, 1, 1, 1],
                          "delta_d": [1, 2, 3, 4, 1, 2, 3], "delta_m": [2, 1, 4, 3, 3, 2, 1]})
    corr = md_correlations(table)
    assert corr["a"] == pytest.approx(0.6) and corr["b"] == pytest.approx(-1.0)
    # within each checkpoint of "a" the slope is negative although the overall trend is positive
    within = md_correlations(table, within_checkpoint=True)
    assert within["a"] == pytest.approx(-1.0) and within["b"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="lacks columns"):
        md_correlations(table.drop(columns="delta_m"))
    with pytest.raises(ValueError, match="needs >= 2"):
        md_correlations(table.iloc[:5], within_checkpoint=True)


# ----------------------------------------------------------------------------------------------------
# tracking (ΔD, ΔM) during real training on a tiny BERT
# ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def tiny_setup(tiny_klue_dir):
    """A tiny BERT classifier, its tokenizer and a 24-row train split in the course schema."""
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_klue_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_klue_dir)
    texts = ["영화 정말 최고 ㅋㅋ", "영화 별로 없다 ㅠㅠ", "the movie good !", "the movie bad ."] * 6
    data = DatasetDict({"train": Dataset.from_dict({"document": texts, "label": [1, 0, 1, 0] * 6})})
    return model, tokenizer, data


def test_track_full_finetuning(tiny_setup):
    model, tokenizer, data = tiny_setup
    w0 = {k: v.clone() for k, v in layer_weights(model, "query").items()}
    table = track_magnitude_direction(model, tokenizer, data, method="full", learning_rate=1e-2, steps=4,
                                      n_checkpoints=2, batch_size=8, progress=False)
    assert list(table.columns) == ["method", "checkpoint", "step", "layer", "delta_m", "delta_d", "loss"]
    assert len(table) == 2 * 2  # 2 query layers × 2 checkpoints
    assert sorted(table["step"].unique()) == [2, 4]
    assert (table["delta_d"] > 0).all() and (table["delta_m"] >= 0).all()
    final = table[table["step"] == 4].set_index("layer")
    now = layer_weights(model, "query")
    for name, weight in now.items():
        delta_m, delta_d = magnitude_direction_change(w0[name], weight)
        assert final.loc[name, "delta_m"] == pytest.approx(delta_m)
        assert final.loc[name, "delta_d"] == pytest.approx(delta_d)


@pytest.mark.parametrize("use_dora", [False, True])
def test_track_peft_models(tiny_setup, use_dora):
    model, tokenizer, data = tiny_setup
    peft_model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=2, lora_alpha=4,
                                                  target_modules=["query", "value"], use_dora=use_dora))
    before = layer_weights(peft_model, "query")
    assert set(before) == {f"bert.encoder.layer.{i}.attention.self.query" for i in range(2)}
    table = track_magnitude_direction(peft_model, tokenizer, data, method="dora" if use_dora else "lora",
                                      learning_rate=5e-2, steps=3, n_checkpoints=3, batch_size=8,
                                      progress=False)
    assert sorted(table["checkpoint"].unique()) == [1, 2, 3]
    assert (table["delta_d"] > 0).all()
    assert table["loss"].notna().all()


def test_a_linear_schedule_moves_the_weights_less_than_a_constant_one(tiny_setup):
    """Same seed and batches: decaying the rate to 0 over 4 steps moves the weights less than keeping it constant."""
    model, tokenizer, data = tiny_setup
    start = {k: v.clone() for k, v in model.state_dict().items()}
    moved = {}
    for schedule in ("constant", "linear"):
        model.load_state_dict(start)
        table = track_magnitude_direction(model, tokenizer, data, method="full", learning_rate=1e-2, steps=4,
                                          n_checkpoints=1, batch_size=8, progress=False, schedule=schedule)
        moved[schedule] = table["delta_d"].sum()
    assert 0 < moved["linear"] < moved["constant"]


def test_track_bad_input(tiny_setup):
    model, tokenizer, data = tiny_setup
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'linear'"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3, schedule="cosine")
    with pytest.raises(ValueError, match=r"n_checkpoints must be <= steps \(allowed: 1..2\)"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3, steps=2, n_checkpoints=3)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3, steps=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=0.0)
    with pytest.raises(ValueError, match="target='nothing' matches no module"):
        layer_weights(model, "nothing")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3)
