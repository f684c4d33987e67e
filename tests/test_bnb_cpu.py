"""course_utils.runtime.bnb_cpu: bitsandbytes' two CPU paths for 4-bit layers, tested on every machine.

* The packed path's weight conversion (pure torch) is exercised on the shapes the course uses (MiniLM-L6: 384 and
  1536) and on tiny test shapes, on any CPU; :func:`packed_reference` (what the packed kernel computes) stays within
  bf16 precision of the portable path.
* Where the CPU has AVX512-BF16 the real packed kernel runs and must agree with :func:`packed_reference`; elsewhere
  those tests are skipped with the reason (the conversion tests above still run).
* The course's loaders keep the portable path, so evaluate -> train -> evaluate works and evaluation changes
  nothing in training, whatever the CPU.
"""

from __future__ import annotations

import copy

import bitsandbytes as bnb
import bitsandbytes.functional as F
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification

from course_utils.runtime import bnb_cpu
from course_utils.runtime.models import load_classifier_4bit

HAS_PACKED = bnb_cpu.packed_path_available()
needs_packed = pytest.mark.skipif(not HAS_PACKED, reason="this CPU has no AVX512-BF16: bitsandbytes' packed kernel "
                                  "is not available here (the pure-torch conversion tests still ran)")
#: (in_features, out_features): MiniLM-L6's attention and MLP layers, then tiny test shapes.
COURSE_SHAPES = [(384, 384), (384, 1536), (1536, 384)]
TINY_PACKABLE = [(64, 32), (128, 64)]
TINY_UNPACKABLE = [(32, 32), (16, 32), (64, 2), (96, 64)]  # in < blocksize, out not /32, in not a multiple of 64


def four_bit_layer(in_features: int, out_features: int, double_quant: bool = True, seed: int = 0) -> torch.nn.Module:
    """A bitsandbytes NF4 Linear4bit on CPU from a random nn.Linear (fp32 compute), in eval mode."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear(in_features, out_features)
    layer = bnb.nn.Linear4bit(in_features, out_features, compute_dtype=torch.float32, quant_type="nf4",
                              compress_statistics=double_quant)
    layer.weight = bnb.nn.Params4bit(linear.weight.data, requires_grad=False, quant_type="nf4",
                                     compress_statistics=double_quant, module=layer)
    layer.bias = linear.bias
    return layer.to("cpu").eval()


@pytest.mark.parametrize("double_quant", [True, False], ids=["dq", "no-dq"])
@pytest.mark.parametrize("shape", COURSE_SHAPES + TINY_PACKABLE, ids=str)
def test_conversion_round_trips_codes_and_rounds_absmax_to_bf16(shape, double_quant):
    layer = four_bit_layer(*shape, double_quant=double_quant)
    state = copy.deepcopy(layer.weight.quant_state)
    absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset if double_quant else state.absmax
    packed, packed_state = F._convert_weight_packed_for_cpu(layer.weight.data.clone(), state)
    assert packed.shape == (shape[1], shape[0] // 2) and packed_state.absmax.dtype == torch.bfloat16
    assert torch.equal(packed_state.absmax.T.reshape(-1), absmax.float().to(torch.bfloat16))
    codes, _ = F._convert_weight_packed_for_cpu_inverse(packed, copy.deepcopy(packed_state))
    assert torch.equal(codes.view(torch.uint8).reshape(-1), layer.weight.data.view(torch.uint8).reshape(-1))


@pytest.mark.parametrize("shape", TINY_UNPACKABLE, ids=str)
def test_shapes_bitsandbytes_cannot_repack_are_known_and_refused(shape):
    layer = four_bit_layer(*shape)
    assert not bnb_cpu.packable(*shape, layer.weight.quant_state.blocksize)
    with pytest.raises((RuntimeError, AssertionError)):  # bitsandbytes' own repack fails on them
        F._convert_weight_packed_for_cpu(layer.weight.data.clone(), copy.deepcopy(layer.weight.quant_state))
    with pytest.raises(ValueError, match="cannot repack"):
        bnb_cpu.packed_reference(layer, torch.randn(2, shape[0]))


@pytest.mark.parametrize("shape", COURSE_SHAPES + TINY_PACKABLE, ids=str)
def test_packed_reference_is_within_bf16_precision_of_the_portable_path(shape):
    layer = four_bit_layer(*shape)
    portable = copy.deepcopy(layer)
    bnb_cpu.use_portable_path(portable)
    x = torch.randn(8, shape[0], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = portable(x)
        emulated = bnb_cpu.packed_reference(layer, x)
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)  # the layer was not touched
    # measured: at most 0.0043 of the largest output on these shapes (bf16 inputs and output); bound 2**-6
    assert (emulated - expected).abs().max() <= 2**-6 * expected.abs().max()
    assert (emulated - expected).abs().max() > 0  # the two paths really differ (bf16 rounding)


@needs_packed
@pytest.mark.parametrize("shape", COURSE_SHAPES + TINY_PACKABLE, ids=str)
def test_real_packed_kernel_computes_the_reference(shape):
    layer = four_bit_layer(*shape)
    x = torch.randn(8, shape[0], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        emulated = bnb_cpu.packed_reference(layer, x)
        real = layer(x)  # eval, no grad: bitsandbytes repacks and runs its packed kernel
    assert layer.weight.quant_state.packing_format_for_cpu
    # measured: at most 0.0033 of the largest output (one bf16 unit); bound 2**-7
    assert (real - emulated).abs().max() <= 2**-7 * emulated.abs().max()


@needs_packed
def test_real_packed_kernel_crashes_on_a_layer_smaller_than_a_block():
    layer = four_bit_layer(16, 32)
    with pytest.raises(RuntimeError), torch.no_grad():
        layer(torch.randn(2, 16))
    portable = four_bit_layer(16, 32)
    bnb_cpu.use_portable_path(portable)
    with torch.no_grad():
        assert portable(torch.randn(2, 16)).shape == (2, 32)


# ----------------------------------------------------------------------------------------------------
# The course's loaders: evaluate -> train -> evaluate on a 4-bit model
# ----------------------------------------------------------------------------------------------------

IDS = torch.tensor([[2, 5, 6, 7, 3], [2, 9, 8, 3, 0]])
MASK = (IDS > 0).long()
LABELS = torch.tensor([0, 1])


@pytest.fixture(scope="module")
def packable_bert(tmp_path_factory):
    """A tiny BERT whose layers bitsandbytes could repack (hidden 64, MLP 128), saved once."""
    folder = tmp_path_factory.mktemp("bert64")
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=60, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=128, max_position_embeddings=32)).save_pretrained(folder)
    return str(folder)


def qlora(folder: str):
    """The course's 4-bit loader plus a LoRA adapter (same seed every time)."""
    model = load_classifier_4bit(folder)
    torch.manual_seed(1)
    return get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value", "dense"]))


def evaluate(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK).logits


def train_step(model) -> dict[str, torch.Tensor]:
    """One forward/backward in training mode; the gradients of the trainable parameters."""
    model.train()
    model(input_ids=IDS, attention_mask=MASK, labels=LABELS).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_course_loader_keeps_every_4bit_layer_portable(packable_bert):
    model = qlora(packable_bert)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == 12 and not any(layer.support_avx512bf16_for_cpu for layer in layers)
    evaluate(model)
    assert not any(getattr(layer.weight.quant_state, "packing_format_for_cpu", False) for layer in layers)


def test_evaluate_train_evaluate_works_and_evaluation_changes_no_gradient(packable_bert):
    fresh = train_step(qlora(packable_bert))
    model = qlora(packable_bert)
    before = evaluate(model)
    after_eval = train_step(model)
    assert fresh.keys() == after_eval.keys() and len(fresh) == 24
    for name in fresh:
        assert torch.equal(fresh[name], after_eval[name]), name
    assert torch.equal(evaluate(model), before)  # no optimizer step was taken: the same logits again


def test_use_portable_path_unpacks_a_layer_that_was_already_repacked(packable_bert):
    model = qlora(packable_bert)
    layer = next(m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    codes = layer.weight.data.clone()
    # repack by hand (what an eval forward does on a CPU with AVX512-BF16), then ask for the portable path again
    layer.weight.data, layer.weight.quant_state = F._convert_weight_packed_for_cpu(layer.weight.data,
                                                                                    layer.weight.quant_state)
    assert bnb_cpu.use_portable_path(model) == 12
    assert not layer.weight.quant_state.packing_format_for_cpu and torch.equal(layer.weight.data, codes)
    assert train_step(model)  # trains (the packed layout would fail here on such a CPU)


def test_use_portable_path_rejects_a_non_module():
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        bnb_cpu.use_portable_path("model")
