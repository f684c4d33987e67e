"""course_utils.dora: DoRALinear against peft's DoRA layer, the lecture's erratum, ΔM/ΔD, the tracking helper."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict
from matplotlib.figure import Figure
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from course_utils.dora import (
    DoRALinear,
    LectureDoRALayer,
    effective_weight,
    figure,
    layer_weights,
    magnitude_direction_change,
    md_correlations,
    track_magnitude_direction,
)
from course_utils.lora import LoRALinear
from course_utils.params import config_only_model, count_trainable

IN, OUT = 24, 40
REL_TOL = 1e-5


class OneLinear(nn.Module):
    """The smallest model peft can wrap: one Linear named 'lin'."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.lin = nn.Linear(IN, OUT, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def tiny_config() -> BertConfig:
    """A 2-layer BERT with hidden 32 for parameter counts (meta device: nothing is allocated)."""
    return BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, num_labels=2)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


def peft_dora_layer(r: int = 4, alpha: float = 8, seed: int = 0, bias: bool = True, **kwargs):
    """A peft DoRA lora.Linear with non-zero B and a magnitude moved away from its init."""
    torch.manual_seed(seed)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], use_dora=True, **kwargs)
    layer = get_peft_model(OneLinear(bias), config).base_model.model.lin
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
        layer.lora_magnitude_vector["default"].weight.mul_(torch.rand(OUT) + 0.5)
    return layer


def ours_with_weights_of(layer, r: int = 4, alpha: float = 8) -> DoRALinear:
    """DoRALinear built by hand (not from_peft) on a copy of the same base, with A, B and m copied in."""
    ours = DoRALinear(copy.deepcopy(layer.base_layer), r=r, alpha=alpha)
    with torch.no_grad():
        ours.lora_A.weight.copy_(layer.lora_A["default"].weight)
        ours.lora_B.weight.copy_(layer.lora_B["default"].weight)
        ours.magnitude.copy_(layer.lora_magnitude_vector["default"].weight)
    return ours


def explicit_dora(layer: DoRALinear, x: torch.Tensor, detach: bool = True) -> torch.Tensor:
    """The paper's formula written out: x · (m ⊙ (W0 + sBA) / ‖W0 + sBA‖_row)ᵀ + b, norm detached or not."""
    combined = layer.base_layer.weight + layer.scaling * layer.lora_B.weight @ layer.lora_A.weight
    norm = combined.norm(dim=1)
    if detach:
        norm = norm.detach()
    return F.linear(x, layer.magnitude[:, None] * combined / norm[:, None], layer.base_layer.bias)


# ----------------------------------------------------------------------------------------------------
# DoRALinear == peft
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r,alpha,bias", [(4, 8, True), (1, 3.0, False), (8, 32, True)])
@pytest.mark.parametrize("train", [True, False])
def test_forward_matches_peft(r, alpha, bias, train):
    layer = peft_dora_layer(r, alpha, bias=bias)
    ours = ours_with_weights_of(layer, r, alpha)
    layer.train(train)
    ours.train(train)
    x = torch.randn(3, 5, IN)
    assert ours.magnitude.shape == (OUT,)
    assert rel_err(ours(x), layer(x)) <= REL_TOL
    assert rel_err(ours(x), explicit_dora(ours, x)) <= REL_TOL


@pytest.mark.parametrize("train", [True, False])
def test_gradients_match_peft(train):
    layer = peft_dora_layer()
    ours = ours_with_weights_of(layer)
    layer.train(train)
    ours.train(train)
    x = torch.randn(6, IN, requires_grad=True)
    grad_out = torch.randn(6, OUT)
    layer(x).backward(grad_out)
    peft_x_grad = x.grad.clone()
    x.grad = None
    ours(x).backward(grad_out)
    pairs = {
        "A": (ours.lora_A.weight, layer.lora_A["default"].weight),
        "B": (ours.lora_B.weight, layer.lora_B["default"].weight),
        "m": (ours.magnitude, layer.lora_magnitude_vector["default"].weight),
    }
    for name, (mine, theirs) in pairs.items():
        assert rel_err(mine.grad, theirs.grad) <= REL_TOL, name
    assert rel_err(x.grad, peft_x_grad) <= REL_TOL
    assert ours.base_layer.weight.grad is None  # W0 stays frozen


def test_norm_is_detached():
    """Paper §4.3: gradients equal the detached formula and differ from the non-detached one."""
    ours = ours_with_weights_of(peft_dora_layer())
    x = torch.randn(8, IN)
    grad_out = torch.randn(8, OUT)

    def grads(fn):
        ours.zero_grad()
        fn(x).backward(grad_out)
        return [p.grad.clone() for p in (ours.lora_A.weight, ours.lora_B.weight, ours.magnitude)]

    mine = grads(ours)
    detached = grads(lambda v: explicit_dora(ours, v, detach=True))
    attached = grads(lambda v: explicit_dora(ours, v, detach=False))
    for a, b in zip(mine, detached):
        assert rel_err(a, b) <= REL_TOL
    assert rel_err(mine[1], attached[1]) > 1e-3  # B's gradient changes when the norm is differentiated
    assert rel_err(mine[0], attached[0]) > 1e-3


def test_from_peft_copies_everything_and_rejects_plain_lora():
    layer = peft_dora_layer(r=2, alpha=5, lora_dropout=0.1)
    ours = DoRALinear.from_peft(layer)
    assert (ours.r, ours.alpha, ours.scaling) == (2, 5.0, 2.5)
    assert ours.lora_dropout.p == 0.1
    assert torch.equal(ours.magnitude, layer.lora_magnitude_vector["default"].weight)
    assert ours.base_layer is not layer.base_layer
    plain = get_peft_model(OneLinear(), LoraConfig(r=2, target_modules=["lin"])).base_model.model.lin
    with pytest.raises(ValueError, match="use_dora=True"):
        DoRALinear.from_peft(plain)
    with pytest.raises(ValueError, match="use_dora=True"):
        DoRALinear.from_peft(layer, adapter_name="other")


def test_dropout_path_matches_peft_with_same_mask():
    """With dropout in training mode both apply peft's formula; the same seed gives the same mask."""
    layer = peft_dora_layer(lora_dropout=0.3)
    ours = DoRALinear.from_peft(layer)
    layer.train()
    ours.train()
    x = torch.randn(4, IN)
    torch.manual_seed(7)
    theirs = layer(x)
    torch.manual_seed(7)
    assert rel_err(ours(x), theirs) <= REL_TOL


def test_init_equals_base_output():
    base = nn.Linear(IN, OUT)
    ours = DoRALinear(copy.deepcopy(base), r=4, alpha=16)
    assert torch.allclose(ours.magnitude, base.weight.norm(dim=1))
    assert torch.allclose(ours.magnitude_scale(), torch.ones(OUT))
    x = torch.randn(5, IN)
    assert rel_err(ours(x), base(x)) <= 1e-6
    assert {n for n, p in ours.named_parameters() if p.requires_grad} == {
        "lora_A.weight", "lora_B.weight", "magnitude"}


def test_init_magnitude_equals_peft_init():
    torch.manual_seed(3)
    model = get_peft_model(OneLinear(), LoraConfig(r=4, target_modules=["lin"], use_dora=True))
    layer = model.base_model.model.lin
    ours = DoRALinear(copy.deepcopy(layer.base_layer), r=4, alpha=8)
    assert torch.allclose(ours.magnitude, layer.lora_magnitude_vector["default"].weight, rtol=1e-6)


def test_is_built_on_lora_linear():
    ours = DoRALinear(nn.Linear(IN, OUT), r=2, alpha=4)
    assert isinstance(ours, LoRALinear)
    assert ours.lora_A.weight.shape == (2, IN) and ours.lora_B.weight.shape == (OUT, 2)


# ----------------------------------------------------------------------------------------------------
# merge / unmerge
# ----------------------------------------------------------------------------------------------------


def test_merge_matches_peft_merge_and_unmerge_restores_w0():
    layer = peft_dora_layer()
    ours = DoRALinear.from_peft(layer)
    x = torch.randn(7, IN)
    before = ours(x)
    w0 = ours.base_layer.weight.detach().clone()
    merged_reference = get_peft_model_merged_weight(layer)
    ours.merge()
    assert ours.merged
    assert rel_err(ours.base_layer.weight, merged_reference) <= REL_TOL
    assert rel_err(ours(x), before) <= REL_TOL
    with pytest.warns(UserWarning, match="already merged"):
        ours.merge()
    ours.unmerge()
    assert not ours.merged
    assert torch.allclose(ours.base_layer.weight, w0, atol=1e-6)
    assert rel_err(ours(x), before) <= REL_TOL
    with pytest.warns(UserWarning, match="not merged"):
        ours.unmerge()


def get_peft_model_merged_weight(layer) -> torch.Tensor:
    """peft's own merged weight for a DoRA layer (on a copy, so the layer stays unmerged)."""
    other = copy.deepcopy(layer)
    other.merge()
    return other.get_base_layer().weight.detach().clone()


def test_effective_weight_of_peft_and_ours_equals_merged():
    layer = peft_dora_layer()
    ours = DoRALinear.from_peft(layer)
    merged = get_peft_model_merged_weight(layer)
    assert rel_err(effective_weight(layer), merged) <= REL_TOL
    assert rel_err(effective_weight(ours), merged) <= REL_TOL
    plain = get_peft_model(OneLinear(), LoraConfig(r=2, lora_alpha=4, target_modules=["lin"])).base_model.model.lin
    with torch.no_grad():
        plain.lora_B["default"].weight.normal_()
    lora_w = plain.get_base_layer().weight + plain.get_delta_weight("default")
    assert torch.allclose(effective_weight(plain), lora_w)
    assert torch.allclose(effective_weight(LoRALinear.from_peft(plain)), lora_w)
    assert torch.equal(effective_weight(plain.get_base_layer()), plain.get_base_layer().weight)
    with pytest.raises(ValueError, match="must be an nn.Linear, a peft LoRA/DoRA layer"):
        effective_weight(nn.Conv1d(2, 2, 1))


# ----------------------------------------------------------------------------------------------------
# all-zero rows (peft issue #2049 / PR #3237: m / 0 = NaN)
# ----------------------------------------------------------------------------------------------------


def test_all_zero_row_gives_no_nan():
    base = nn.Linear(IN, OUT)
    with torch.no_grad():
        base.weight[3] = 0.0
    ours = DoRALinear(base, r=4, alpha=8)
    with torch.no_grad():
        ours.lora_B.weight.normal_()
        ours.lora_B.weight[3] = 0.0  # row 3 of W0 + sBA stays exactly zero
    x = torch.randn(5, IN, requires_grad=True)
    y = ours(x)
    assert torch.isfinite(y).all()
    assert torch.allclose(y[:, 3], base.bias[3].expand(5))  # the dead row outputs its bias, as the base does
    y.square().sum().backward()
    for p in (ours.lora_A.weight, ours.lora_B.weight, ours.magnitude, x):
        assert torch.isfinite(p.grad).all()
    ours.merge()
    assert torch.isfinite(ours.base_layer.weight).all()
    ours.unmerge()
    assert torch.isfinite(ours.base_layer.weight).all()
    assert torch.equal(ours.base_layer.weight[3], torch.zeros(IN))


def test_peft_0_21_still_gives_nan_on_a_zero_row():
    """Why the floor exists (peft 0.21.2 NaNs); skipped once peft floors the norm itself (PR #3237)."""
    model = OneLinear()
    with torch.no_grad():
        model.lin.weight[0] = 0.0
    layer = get_peft_model(model, LoraConfig(r=2, target_modules=["lin"], use_dora=True)).base_model.model.lin
    y = layer(torch.randn(2, IN))
    if torch.isfinite(y).all():
        pytest.skip("this peft floors the DoRA norm: update the notebook's note on peft issue #2049")
    assert torch.isnan(y[:, 0]).all() and torch.isfinite(y[:, 1:]).all()


# ----------------------------------------------------------------------------------------------------
# the lecture's erratum
# ----------------------------------------------------------------------------------------------------


def test_lecture_layer_scales_base_by_frobenius_norm_at_init():
    base = nn.Linear(IN, OUT)
    lecture = LectureDoRALayer(base, rank=4, alpha=32)
    correct = DoRALinear(copy.deepcopy(base), r=4, alpha=32)
    x = torch.randn(5, IN)
    frobenius = torch.linalg.matrix_norm(base.weight).item()
    assert lecture.magnitude.shape == ()  # one scalar, not one per output row
    assert torch.allclose(lecture(x), frobenius * base(x), rtol=1e-5, atol=1e-6)
    assert rel_err(lecture(x), base(x)) == pytest.approx(frobenius - 1, rel=1e-4)
    assert rel_err(correct(x), base(x)) <= 1e-6


def test_lecture_code_with_ones_is_not_dora_once_b_moves():
    base = nn.Linear(IN, OUT)
    lecture = LectureDoRALayer(base, rank=4, alpha=8, magnitude_init="ones")
    correct = DoRALinear(copy.deepcopy(base), r=4, alpha=8)
    x = torch.randn(5, IN)
    assert torch.allclose(lecture(x), base(x))  # the code's ones hide the error at step 0 ...
    with torch.no_grad():
        correct.lora_A.weight.copy_(lecture.lora_A.weight)
        correct.lora_B.weight.normal_()
        lecture.lora_B.weight.copy_(correct.lora_B.weight)
    assert rel_err(lecture(x), correct(x)) > 1e-2  # ... but without the norm it is plain LoRA, not DoRA
    lora = LoRALinear(copy.deepcopy(base), r=4, alpha=8)
    with torch.no_grad():
        lora.lora_A.weight.copy_(lecture.lora_A.weight)
        lora.lora_B.weight.copy_(lecture.lora_B.weight)
    assert torch.allclose(lecture(x), lora(x), atol=1e-6)


def test_lecture_layer_bad_input():
    with pytest.raises(ValueError, match="magnitude_init must be"):
        LectureDoRALayer(nn.Linear(IN, OUT), magnitude_init="rows")
    with pytest.raises(TypeError, match="base_layer must be an nn.Linear"):
        LectureDoRALayer(nn.Conv1d(2, 2, 1))


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [0, -1])
def test_bad_rank(r):
    with pytest.raises(ValueError, match=r"r must satisfy 1 <= r <= min\(in_features, out_features\) = 24"):
        DoRALinear(nn.Linear(IN, OUT), r=r, alpha=8)


def test_rank_above_min_dim():
    with pytest.raises(ValueError, match=r"= 24, got r=25"):
        DoRALinear(nn.Linear(IN, OUT), r=25, alpha=8)


@pytest.mark.parametrize("alpha", [0, -2.0, math.inf])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0 \(allowed: alpha > 0\)"):
        DoRALinear(nn.Linear(IN, OUT), r=2, alpha=alpha)


def test_bad_base_and_dropout():
    with pytest.raises(TypeError, match=r"base must be an nn.Linear \(allowed: nn.Linear\)"):
        DoRALinear(nn.Conv1d(3, 3, 1), r=1, alpha=1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        DoRALinear(nn.Linear(IN, OUT), r=2, alpha=2, dropout=1.5)


# ----------------------------------------------------------------------------------------------------
# parameter counts
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r,targets,task_type", [
    (4, ["query", "value"], "SEQ_CLS"),
    (2, ["query", "key", "value", "dense"], "SEQ_CLS"),
    (8, ["dense"], None),
])
def test_count_trainable_dora_matches_peft(r, targets, task_type):
    ours = count_trainable(config_only_model(tiny_config()), method="dora", r=r, target_modules=targets,
                           task_type=task_type)
    model = get_peft_model(config_only_model(tiny_config()),
                           LoraConfig(task_type=task_type, r=r, target_modules=targets, use_dora=True))
    assert ours == model.get_nb_trainable_parameters()


def test_dora_layer_counts_lora_plus_out():
    layer = DoRALinear(nn.Linear(IN, OUT), r=3, alpha=3)
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    assert trainable == 3 * (IN + OUT) + OUT


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


def test_track_bad_input(tiny_setup):
    model, tokenizer, data = tiny_setup
    with pytest.raises(ValueError, match=r"n_checkpoints must be <= steps \(allowed: 1..2\)"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3, steps=2, n_checkpoints=3)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3, steps=0)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=0.0)
    with pytest.raises(ValueError, match="target='nothing' matches no module"):
        layer_weights(model, "nothing")
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        track_magnitude_direction(model, tokenizer, data, method="x", learning_rate=1e-3)


def test_figure_is_a_figure():
    fig = figure()
    assert isinstance(fig, Figure)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "(out,)" in texts and "(out, in)" in texts and "(r, in)" in texts
