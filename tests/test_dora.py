"""course_utils.adapters.dora and peft_interop (DoRA): DoRALinear against peft, merge, zero rows, the lecture
erratum."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import BertConfig

from course_utils.adapters.dora import DoRALinear, FusedDoRALinear, LectureDoRALayer, dora_architecture_figure
from course_utils.adapters.dora_analysis import (
    effective_weight,
)
from course_utils.adapters.lora import LoRALinear
from course_utils.adapters.params import count_trainable
from course_utils.adapters.peft_interop import dora_from_peft, lora_from_peft
from course_utils.runtime.presets import config_only_model

IN, OUT = 24, 40
REL_TOL = 1e-5


class OneLinear(nn.Module):
    """The smallest model peft can wrap: one Linear named 'lin'."""

    def __init__(self, bias: bool = True, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.lin = nn.Linear(IN, OUT, bias=bias, dtype=dtype)

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


def peft_dora_layer(r: int = 4, alpha: float = 8, seed: int = 0, bias: bool = True, dtype=torch.float32, **kwargs):
    """A peft DoRA lora.Linear with non-zero B and a magnitude moved away from its init."""
    torch.manual_seed(seed)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], use_dora=True, **kwargs)
    layer = get_peft_model(OneLinear(bias, dtype), config).base_model.model.lin
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
        layer.lora_magnitude_vector["default"].weight.mul_(torch.rand(OUT) + 0.5)
    return layer


def ours_with_weights_of(layer, r: int = 4, alpha: float = 8) -> DoRALinear:
    """DoRALinear built by hand (not dora_from_peft) on a copy of the same base, with A, B and m copied in."""
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


def test_dora_from_peft_copies_everything_and_rejects_plain_lora():
    layer = peft_dora_layer(r=2, alpha=5, lora_dropout=0.1)
    ours = dora_from_peft(layer)
    assert (ours.r, ours.alpha, ours.scaling) == (2, 5.0, 2.5)
    assert ours.lora_dropout.p == 0.1
    assert torch.equal(ours.magnitude, layer.lora_magnitude_vector["default"].weight)
    assert ours.base_layer is not layer.base_layer
    plain = get_peft_model(OneLinear(), LoraConfig(r=2, target_modules=["lin"])).base_model.model.lin
    with pytest.raises(ValueError, match="use_dora=True"):
        dora_from_peft(plain)
    with pytest.raises(ValueError, match="use_dora=True"):
        dora_from_peft(layer, adapter_name="other")
    with pytest.raises(ValueError, match="use_dora=True"):
        dora_from_peft(nn.Linear(3, 3))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_dora_from_peft_on_half_base_keeps_fp32_adapter_and_matches_peft(dtype, dropout):
    """peft keeps A, B and m in fp32 on a bf16/fp16 base (autocast_adapter_dtype); so does our copy.

    Storing them in the base dtype (the old bug) gave a 5e-3 forward error; now every output element is within one
    unit in the last place of peft's (in practice: bit for bit in bf16), and the merged weights agree.
    """
    layer = peft_dora_layer(dtype=dtype, seed=12, lora_dropout=dropout)
    ours = dora_from_peft(layer)
    assert ours.base_layer.weight.dtype == dtype
    for mine, theirs in ((ours.lora_A.weight, layer.lora_A["default"].weight),
                         (ours.lora_B.weight, layer.lora_B["default"].weight),
                         (ours.magnitude, layer.lora_magnitude_vector["default"].weight)):
        assert mine.dtype == theirs.dtype == torch.float32 and torch.equal(mine, theirs)
    x = torch.randn(64, IN, dtype=dtype)
    for train in (False, True):  # with dropout in training mode: the same seed gives the same mask
        layer.train(train)
        ours.train(train)
        torch.manual_seed(13)
        ref = layer(x)
        torch.manual_seed(13)
        out = ours(x)
        assert out.dtype == ref.dtype == dtype
        ulp = torch.finfo(dtype).eps * ref.abs().float().clamp_min(torch.finfo(dtype).tiny)
        assert ((out.float() - ref.float()).abs() <= ulp).all()
        assert rel_err(out, ref) <= 1e-4
    merged_reference = get_peft_model_merged_weight(layer)
    ours.merge()
    assert ours.base_layer.weight.dtype == dtype
    assert rel_err(ours.base_layer.weight, merged_reference) <= 1e-6


def test_dropout_path_matches_peft_with_same_mask():
    """With dropout in training mode both apply peft's formula; the same seed gives the same mask."""
    layer = peft_dora_layer(lora_dropout=0.3)
    ours = dora_from_peft(layer)
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
    assert torch.allclose(ours.magnitude / ours.weight_norm(), torch.ones(OUT))
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
    ours = dora_from_peft(layer)
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
    ours = dora_from_peft(layer)
    merged = get_peft_model_merged_weight(layer)
    assert rel_err(effective_weight(layer), merged) <= REL_TOL
    assert rel_err(effective_weight(ours), merged) <= REL_TOL
    plain = get_peft_model(OneLinear(), LoraConfig(r=2, lora_alpha=4, target_modules=["lin"])).base_model.model.lin
    with torch.no_grad():
        plain.lora_B["default"].weight.normal_()
    lora_w = plain.get_base_layer().weight + plain.get_delta_weight("default")
    assert torch.allclose(effective_weight(plain), lora_w)
    assert torch.allclose(effective_weight(lora_from_peft(plain)), lora_w)
    assert torch.equal(effective_weight(plain.get_base_layer()), plain.get_base_layer().weight)
    with pytest.raises(ValueError, match="must be an nn.Linear, a peft LoRA/DoRA layer"):
        effective_weight(nn.Conv1d(2, 2, 1))


# ----------------------------------------------------------------------------------------------------
# the bonus fused layer == the readable one
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("dropout", "train"), [(0.0, True), (0.3, False), (0.3, True)])
def test_fused_dora_equals_dora_forward_and_gradients(bias, dropout, train):
    """FusedDoRALinear computes the same outputs and gradients (with dropout in training it uses DoRALinear's)."""
    layer = peft_dora_layer(bias=bias, lora_dropout=dropout)
    readable = dora_from_peft(layer)
    fused = FusedDoRALinear(copy.deepcopy(readable.base_layer), r=4, alpha=8, dropout=dropout)
    fused.load_state_dict(readable.state_dict())
    readable.train(train)
    fused.train(train)
    x = torch.randn(3, 5, IN, requires_grad=True)
    grad_out = torch.randn(3, 5, OUT)
    torch.manual_seed(14)
    readable(x).backward(grad_out)
    expected = [p.grad.clone() for p in (readable.lora_A.weight, readable.lora_B.weight, readable.magnitude, x)]
    x.grad = None
    torch.manual_seed(14)
    out = fused(x)
    out.backward(grad_out)
    torch.manual_seed(14)
    assert out.shape == (3, 5, OUT) and rel_err(out, readable(x)) <= REL_TOL
    for mine, theirs in zip((fused.lora_A.weight, fused.lora_B.weight, fused.magnitude, x), expected):
        assert rel_err(mine.grad, theirs) <= REL_TOL
    fused.merge()
    fused.eval()
    readable.eval()  # a merged layer has no dropout: compare with the readable layer in eval mode
    assert rel_err(fused(x), readable(x)) <= REL_TOL


def test_fused_dora_on_bf16_base_with_fp32_adapter():
    layer = peft_dora_layer(dtype=torch.bfloat16, seed=15)
    readable = dora_from_peft(layer)
    fused = FusedDoRALinear(copy.deepcopy(readable.base_layer), r=4, alpha=8)
    fused.load_state_dict(readable.state_dict())  # the fp32 adapter values (into bf16 parameters) ...
    for name in ("lora_A", "lora_B"):
        getattr(fused, name).weight.data = getattr(readable, name).weight.detach().clone()  # ... so keep fp32
    fused.magnitude.data = readable.magnitude.detach().clone()
    x = torch.randn(16, IN, dtype=torch.bfloat16)
    out = fused(x)
    assert out.dtype == torch.bfloat16
    assert rel_err(out, layer(x)) <= 2.0**-8  # fused computes W0 x in fp32, peft rounds it to bf16 first


# ----------------------------------------------------------------------------------------------------
# all-zero rows (peft issue #2049 / PR #3237: m / 0 = NaN)
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [DoRALinear, FusedDoRALinear])
def test_all_zero_row_gives_no_nan(cls):
    base = nn.Linear(IN, OUT)
    with torch.no_grad():
        base.weight[3] = 0.0
    ours = cls(base, r=4, alpha=8)
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
    with pytest.raises(TypeError, match=r"base must be an instance of Linear \(allowed: Linear\), got Conv1d"):
        DoRALinear(nn.Conv1d(3, 3, 1), r=1, alpha=1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        DoRALinear(nn.Linear(3, 3), r=1, alpha=1, dropout=1.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
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


def test_dora_architecture_figure_is_a_figure():
    fig = dora_architecture_figure()
    assert isinstance(fig, Figure)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "(out,)" in texts and "(out, in)" in texts and "(r, in)" in texts


def test_dora_linear_stays_teaching_sized():
    """Notebook 02 shows DoRALinear's whole source (show_source): the speed path lives in FusedDoRALinear instead."""
    import inspect

    source = inspect.getsource(DoRALinear)
    assert len(source.splitlines()) <= 60
    assert "addmm_" not in source and "addcmul" not in source
