"""course_utils.adapters.lora, peft_interop (LoRA), svd_energy: LoRALinear and inject_lora against peft, SVD energy."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from archs import build
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import (
    BertConfig,
)

from course_utils.adapters.lora import LoRALinear, inject_lora
from course_utils.adapters.params import count_trainable
from course_utils.adapters.peft_interop import lora_from_peft
from course_utils.adapters.svd_energy import energy_figure, rank_for_energy, singular_value_energy
from course_utils.runtime.presets import config_only_model

IN, OUT = 24, 40
#: bf16 has an 8-bit significand: unit roundoff u = 2**-8 ≈ 3.9e-3. Our bf16 layer rounds A·x, B·(A·x) and
#: the sum to bf16 while peft keeps the adapter in fp32, so outputs differ by a few roundings of u;
#: 2**-6 = 4u is the bound (measured: about 1u).
BF16_REL_TOL = 2.0**-6


class OneLinear(nn.Module):
    """The smallest model peft can wrap: one Linear named 'lin'."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.lin = nn.Linear(IN, OUT, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ in float64."""
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


def peft_layer(r: int, alpha: float, dtype=torch.float32, seed: int = 0, **kwargs):
    """A peft lora.Linear with a non-zero B (so the LoRA branch matters)."""
    torch.manual_seed(seed)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=["lin"], **kwargs)
    model = get_peft_model(OneLinear(dtype), config)
    layer = model.base_model.model.lin
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    return layer


def ours_with_weights_of(layer, r: int, alpha: float, **kwargs) -> LoRALinear:
    """LoRALinear built by hand (not lora_from_peft): same W0, b, A, B copied in, adapters in the base dtype."""
    ours = LoRALinear(copy.deepcopy(layer.base_layer), r=r, alpha=alpha, **kwargs)
    with torch.no_grad():
        ours.lora_A.weight.copy_(layer.lora_A["default"].weight)
        ours.lora_B.weight.copy_(layer.lora_B["default"].weight)
    return ours


# ----------------------------------------------------------------------------------------------------
# numerical agreement with peft
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_rslora", [False, True])
@pytest.mark.parametrize(("r", "alpha"), [(1, 1), (4, 12), (8, 32)])
def test_fp32_matches_peft(r, alpha, use_rslora):
    layer = peft_layer(r, alpha, use_rslora=use_rslora)
    ours = ours_with_weights_of(layer, r, alpha, use_rslora=use_rslora)
    assert ours.scaling == layer.scaling["default"]
    x = torch.randn(7, 3, IN)
    assert rel_err(ours(x), layer(x)) <= 1e-6
    assert rel_err(ours.delta_weight(), layer.get_delta_weight("default")) <= 1e-6


def test_lora_from_peft_copies_everything():
    layer = peft_layer(4, 12, lora_dropout=0.25)
    ours = lora_from_peft(layer)
    assert (ours.r, ours.alpha, ours.scaling, ours.lora_dropout.p) == (4, 12.0, 3.0, 0.25)
    assert ours.lora_A.weight.shape == (4, IN) and ours.lora_B.weight.shape == (OUT, 4)
    ours.eval()
    layer.eval()
    x = torch.randn(5, IN)
    assert torch.equal(ours(x), layer(x))
    ours.merge()  # the base layer was copied: merging ours leaves peft's W0 alone
    assert not torch.equal(ours.base_layer.weight, layer.base_layer.weight)


def test_lora_from_peft_rejects_dora_non_lora_merged_and_unknown_adapter():
    torch.manual_seed(0)
    config = LoraConfig(r=2, target_modules=["lin"], use_dora=True)
    dora = get_peft_model(OneLinear(), config).base_model.model.lin
    with pytest.raises(ValueError, match="DoRA"):
        lora_from_peft(dora)
    with pytest.raises(ValueError, match="peft_layer must be a peft LoRA Linear"):
        lora_from_peft(nn.Linear(3, 3))
    layer = peft_layer(2, 4)
    with pytest.raises(ValueError, match=r"adapter_name must be one of \['default'\], got 'other'"):
        lora_from_peft(layer, adapter_name="other")
    layer.merge()
    with pytest.raises(ValueError, match="peft_layer is merged"):
        lora_from_peft(layer)


def test_bf16_matches_peft_within_tolerance():
    """peft keeps adapters in fp32 on a bf16 base; ours in bf16 differs only by bf16 rounding."""
    torch.manual_seed(1)
    layer = peft_layer(4, 12, dtype=torch.bfloat16)
    assert layer.lora_A["default"].weight.dtype == torch.float32  # peft's autocast_adapter_dtype
    ours = ours_with_weights_of(layer, 4, 12)
    assert ours.lora_A.weight.dtype == torch.bfloat16
    x = torch.randn(64, IN, dtype=torch.bfloat16)
    out, ref = ours(x), layer(x)
    assert out.dtype == ref.dtype == torch.bfloat16
    assert rel_err(out, ref) <= BF16_REL_TOL
    # both are within the same bound of an fp32 computation with the same (bf16-representable) weights
    w = ours.base_layer.weight.float() + 3.0 * ours.lora_B.weight.float() @ ours.lora_A.weight.float()
    exact = x.float() @ w.T + ours.base_layer.bias.float()
    assert rel_err(out, exact) <= BF16_REL_TOL and rel_err(ref, exact) <= BF16_REL_TOL
    # and lora_from_peft (fp32 adapters, like peft) reproduces peft bit for bit
    assert torch.equal(lora_from_peft(layer)(x), ref)
    # adapter_dtype=bf16 gives the same all-bf16 layer as the hand-built one
    as_bf16 = lora_from_peft(layer, adapter_dtype=torch.bfloat16)
    assert as_bf16.lora_B.weight.dtype == torch.bfloat16
    assert torch.equal(as_bf16(x), out)


def test_bf16_matches_all_bf16_peft():
    torch.manual_seed(2)
    model = get_peft_model(OneLinear(torch.bfloat16), LoraConfig(r=4, lora_alpha=8, target_modules=["lin"]),
                           autocast_adapter_dtype=False)
    layer = model.base_model.model.lin
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    ours = ours_with_weights_of(layer, 4, 8)
    x = torch.randn(16, IN, dtype=torch.bfloat16)
    assert rel_err(ours(x), layer(x)) <= BF16_REL_TOL


def test_merge_matches_peft_merge():
    layer = peft_layer(8, 16)
    ours = ours_with_weights_of(layer, 8, 16)
    ours.merge()
    layer.merge()
    assert rel_err(ours.base_layer.weight, layer.base_layer.weight) <= 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_lora_from_peft_on_half_base_keeps_fp32_adapters_and_matches_peft(dtype, dropout):
    """peft keeps A and B in fp32 on a bf16/fp16 base; our copy keeps them too, so forward and merge match peft."""
    layer = peft_layer(4, 8, dtype=dtype, seed=8, lora_dropout=dropout)
    ours = lora_from_peft(layer)
    assert ours.base_layer.weight.dtype == dtype
    assert ours.lora_A.weight.dtype == ours.lora_B.weight.dtype == layer.lora_B["default"].weight.dtype == torch.float32
    x = torch.randn(64, IN, dtype=dtype)
    for train in (False, True):  # with dropout in training mode: the same seed gives the same mask
        layer.train(train)
        ours.train(train)
        torch.manual_seed(9)
        ref = layer(x)
        torch.manual_seed(9)
        out = ours(x)
        # one 1-ulp difference in a single element would already exceed 1e-6: this is bit for bit in practice
        assert out.dtype == ref.dtype == dtype and rel_err(out, ref) <= 1e-6
    w0 = layer.base_layer.weight.detach().clone()
    exact = w0.double() + (layer.lora_B["default"].weight @ layer.lora_A["default"].weight).double() * 2.0
    peft_merged = copy.deepcopy(layer)
    peft_merged.merge()
    ours.merge()
    assert ours.base_layer.weight.dtype == dtype
    assert rel_err(ours.base_layer.weight, peft_merged.base_layer.weight) <= 1e-6
    ours.unmerge()
    # two roundings to the half dtype (merge, unmerge): |W - W0| <= u·(|W0 + ΔW| + |W0|), u = eps / 2
    u = torch.finfo(dtype).eps / 2
    bound = 1.01 * u * (exact.abs() + w0.double().abs()) + 1e-12
    assert ((ours.base_layer.weight.double() - w0.double()).abs() <= bound).all()


# ----------------------------------------------------------------------------------------------------
# merge / unmerge
# ----------------------------------------------------------------------------------------------------


def test_merge_unmerge_roundtrip():
    torch.manual_seed(3)
    ours = LoRALinear(nn.Linear(IN, OUT), r=4, alpha=8)
    with torch.no_grad():
        ours.lora_B.weight.normal_()
    w0 = ours.base_layer.weight.detach().clone()
    x = torch.randn(10, IN)
    before = ours(x)
    ours.merge()
    assert ours.merged
    assert not torch.allclose(ours.base_layer.weight, w0)
    assert rel_err(ours(x), before) <= 1e-6
    assert torch.allclose(ours.base_layer.weight, w0 + ours.delta_weight(), atol=1e-6)
    with pytest.warns(UserWarning, match="already merged"):
        ours.merge()
    ours.unmerge()
    assert not ours.merged
    assert torch.allclose(ours.base_layer.weight, w0, atol=1e-6)
    assert rel_err(ours(x), before) <= 1e-6
    with pytest.warns(UserWarning, match="not merged"):
        ours.unmerge()


def test_delta_weight_shape_and_formula():
    ours = LoRALinear(nn.Linear(IN, OUT), r=3, alpha=6)
    with torch.no_grad():
        ours.lora_B.weight.normal_()
    delta = ours.delta_weight()
    assert delta.shape == (OUT, IN) == ours.base_layer.weight.shape
    assert torch.allclose(delta, 2.0 * ours.lora_B.weight @ ours.lora_A.weight)
    assert torch.linalg.matrix_rank(delta).item() == 3


# ----------------------------------------------------------------------------------------------------
# init, scaling, freezing, dropout
# ----------------------------------------------------------------------------------------------------


def test_init_b_zero_output_equals_base():
    torch.manual_seed(4)
    base = nn.Linear(IN, OUT)
    ours = LoRALinear(base, r=8, alpha=16)
    assert torch.count_nonzero(ours.lora_B.weight) == 0
    assert ours.lora_A.weight.abs().max() <= 1 / math.sqrt(IN)  # kaiming_uniform(a=sqrt(5)) bound
    assert ours.lora_A.weight.abs().max() > 0.5 / math.sqrt(IN)
    x = torch.randn(6, IN)
    assert torch.equal(ours(x), base(x))


def test_rslora_scaling():
    assert LoRALinear(nn.Linear(64, 64), r=16, alpha=32).scaling == 2.0
    assert LoRALinear(nn.Linear(64, 64), r=16, alpha=32, use_rslora=True).scaling == 8.0
    rs = LoRALinear(nn.Linear(64, 64), r=8, alpha=32, use_rslora=True)
    assert rs.scaling == pytest.approx(11.3137, abs=1e-4)


def test_only_lora_parameters_train():
    ours = LoRALinear(nn.Linear(IN, OUT), r=2, alpha=4)
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A.weight", "lora_B.weight"}
    ours(torch.randn(3, IN)).sum().backward()
    assert ours.lora_B.weight.grad is not None and ours.base_layer.weight.grad is None


def test_dropout_only_on_lora_branch():
    torch.manual_seed(5)
    base = nn.Linear(IN, OUT)
    ours = LoRALinear(base, r=4, alpha=8, dropout=0.5)
    x = torch.randn(32, IN)
    ours.train()
    # B = 0: even in training mode the output is exactly the base output (the base path is never dropped)
    assert torch.equal(ours(x), base(x))
    with torch.no_grad():
        ours.lora_B.weight.normal_()
    torch.manual_seed(11)
    out = ours(x)
    torch.manual_seed(11)
    x_dropped = F.dropout(x, p=0.5, training=True)
    expected = base(x) + ours.lora_B(ours.lora_A(x_dropped)) * ours.scaling
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(ours(x), ours(x))  # stochastic in training
    ours.eval()
    assert torch.equal(ours(x), ours(x))
    assert torch.allclose(ours(x), x @ (base.weight + ours.delta_weight()).T + base.bias, atol=1e-5)


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [0, -2])
def test_bad_rank(r):
    with pytest.raises(ValueError, match=r"r must satisfy 1 <= r <= min\(in_features, out_features\) = 24"):
        LoRALinear(nn.Linear(IN, OUT), r=r, alpha=8)


def test_rank_above_min_dim():
    with pytest.raises(ValueError, match=r"= 24, got r=25"):
        LoRALinear(nn.Linear(IN, OUT), r=25, alpha=8)
    assert LoRALinear(nn.Linear(IN, OUT), r=24, alpha=8).r == 24


@pytest.mark.parametrize("alpha", [0, -1.0])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        LoRALinear(nn.Linear(IN, OUT), r=2, alpha=alpha)


def test_bad_rank_type_dropout_and_base():
    with pytest.raises(TypeError, match="r must be an integer in 1..24"):
        LoRALinear(nn.Linear(IN, OUT), r=2.0, alpha=2)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
        LoRALinear(nn.Linear(IN, OUT), r=2, alpha=2, dropout=1.5)
    with pytest.raises(TypeError, match=r"base must be an instance of Linear \(allowed: Linear\), got Conv1d"):
        LoRALinear(nn.Conv1d(3, 3, 1), r=1, alpha=1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        LoRALinear(nn.Linear(3, 3), r=1, alpha=1, dropout=1.0)


# ----------------------------------------------------------------------------------------------------
# inject_lora on a tiny BERT
# ----------------------------------------------------------------------------------------------------


def tiny_bert_config() -> BertConfig:
    """A 2-layer BERT with hidden 32."""
    return BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64)


def test_inject_lora_tiny_bert():
    torch.manual_seed(6)
    config = tiny_bert_config()
    model = config_only_model(config, device="cpu").eval()
    expected_trainable = count_trainable(model, r=4, target_modules=["query", "value"], task_type=None)[0]
    ids = torch.randint(0, 100, (2, 9))
    before = model(input_ids=ids).logits
    names = inject_lora(model, ["query", "value"], r=4, alpha=8)
    assert len(names) == 4 and all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected_trainable == 4 * 4 * 64
    assert torch.equal(model(input_ids=ids).logits, before)  # B = 0: the adapted model starts as the base
    with pytest.raises(ValueError, match="r must satisfy"):
        inject_lora(config_only_model(config), ["query"], r=64, alpha=8)


def _adapted_by_peft(model: nn.Module) -> dict[str, nn.Module]:
    """peft's LoRA layers of a peft model, keyed by their name in the base model."""
    from peft.tuners.lora import LoraLayer

    return {name.removeprefix("base_model.model."): module for name, module in model.named_modules()
            if isinstance(module, LoraLayer)}


@pytest.mark.parametrize(("arch", "targets", "expected"), [
    ("llama", "all-linear", 2 * 7),  # q,k,v,o + gate,up,down per block; the tied lm_head is left alone
    ("roberta", r".*\.(query|value)", 2 * 2),  # a string is one regex over the whole name, as in peft
    ("roberta", "all-linear", 2 * 6 + 2),  # without a task type the head's two Linears are adapted too
    ("distilbert", ["q_lin", "v_lin", "lin2"], 2 * 3),
])
def test_inject_lora_matches_peft_beyond_bert(arch, targets, expected):
    """Same layers as get_peft_model adapts, and with peft's A and B copied in, the same logits."""
    torch.manual_seed(10)
    base = build(arch, device="cpu").eval()
    if arch == "llama":
        assert base.lm_head.weight is base.model.embed_tokens.weight
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    names = inject_lora(ours, targets, r=2, alpha=6)  # r <= 2: RoBERTa's head ends in a 32 → 2 Linear
    peft_model = get_peft_model(theirs, LoraConfig(r=2, lora_alpha=6, target_modules=targets)).eval()
    peft_layers = _adapted_by_peft(peft_model)
    assert names == list(peft_layers) and len(names) == expected
    with torch.no_grad():
        for name in names:
            layer = peft_layers[name]
            layer.lora_B["default"].weight.normal_(std=0.1)
            ours.get_submodule(name).lora_A.weight.copy_(layer.lora_A["default"].weight)
            ours.get_submodule(name).lora_B.weight.copy_(layer.lora_B["default"].weight)
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert trainable == {f"{n}.lora_{ab}.weight" for n in names for ab in "AB"}
    ids = torch.randint(2, 64, (2, 11))
    with torch.no_grad():
        out, ref = ours(input_ids=ids).logits, peft_model(input_ids=ids).logits
    assert rel_err(out, ref) <= 1e-6 and rel_err(out, base(input_ids=ids).logits) > 1e-4  # B ≠ 0 matters


@pytest.mark.parametrize("targets", [["c_attn"], "all-linear"])
def test_inject_lora_names_gpt2_conv1d(targets):
    """GPT-2's attention and MLP layers are transformers' Conv1D, not nn.Linear: a clear error, model unchanged."""
    model = build("gpt2", device="cpu")
    with pytest.raises(ValueError, match=r"matches 'transformer\.h\.0\.attn\.c_attn', a Conv1D; .*nn\.Linear"):
        inject_lora(model, targets, r=2, alpha=4)
    assert all(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, LoRALinear) for m in model.modules())


def test_inject_lora_string_where_a_list_is_meant():
    """peft reads a string as one regex over the whole name: "query" matches nothing, and the error says why."""
    model = config_only_model(tiny_bert_config(), device="cpu")
    with pytest.raises(ValueError, match=r"(?s)query.*not found.*pass a list, e\.g\. \['query'\]"):
        inject_lora(model, "query", r=2, alpha=4)
    assert all(p.requires_grad for p in model.parameters())  # nothing was changed
    with pytest.raises(TypeError, match="must contain non-empty strings"):
        inject_lora(model, ["query", 3], r=2, alpha=4)


def test_inject_lora_checks_everything_before_changing_the_model():
    model = config_only_model(tiny_bert_config(), device="cpu")
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        inject_lora(model, ["query"], r=2, alpha=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        inject_lora(model, ["query"], r=2, alpha=4, dropout=1.0)
    assert all(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, LoRALinear) for m in model.modules())


# ----------------------------------------------------------------------------------------------------
# SVD energy
# ----------------------------------------------------------------------------------------------------


def test_singular_value_energy_known_spectrum():
    u, _ = torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64))
    s = torch.tensor([3.0, 2.0, 1.0] + [0.0] * 9, dtype=torch.float64)
    delta = u[:, :12] @ torch.diag(s) @ v.T
    energy = singular_value_energy(delta)
    assert energy.shape == (12,)
    assert torch.allclose(energy[:3], torch.tensor([9 / 14, 13 / 14, 1.0], dtype=torch.float64))
    assert torch.allclose(energy[-1], torch.tensor(1.0, dtype=torch.float64))
    assert rank_for_energy(delta, 0.5) == 1
    assert rank_for_energy(delta, 0.9) == 2
    assert rank_for_energy(delta, 1.0) == 3
    assert [rank_for_energy(delta, f, energy) for f in (0.5, 0.9, 1.0)] == [1, 2, 3]   # precomputed curve: same
    with pytest.raises(ValueError, match="energy must be singular_value_energy"):
        rank_for_energy(delta, 0.9, energy[:5])


def test_singular_value_energy_random_is_spread():
    torch.manual_seed(7)
    energy = singular_value_energy(torch.randn(64, 64))
    assert bool((energy[1:] >= energy[:-1]).all())
    assert energy[7] < 0.5  # no dominant directions: the top 8 of 64 hold well under half (≈0.38 here)


def test_singular_value_energy_bad_input():
    with pytest.raises(ValueError, match="delta must be a 2-D matrix"):
        singular_value_energy(torch.ones(3))
    with pytest.raises(ValueError, match="must not be all zeros"):
        singular_value_energy(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        rank_for_energy(torch.eye(3), 0.0)


def test_energy_figure():
    low = singular_value_energy(torch.randn(32, 2) @ torch.randn(2, 32))
    fig = energy_figure({"low rank": low, "random": singular_value_energy(torch.randn(32, 32))}, max_rank=16)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3  # two curves + the r marker
    assert "low rank (r=8: 100%)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="curves must contain"):
        energy_figure({})


def test_lora_linear_stays_teaching_sized():
    """Notebook 01 shows LoRALinear's whole source (show_source): keep it at the scale of a textbook listing."""
    import inspect

    assert len(inspect.getsource(LoRALinear).splitlines()) <= 60
