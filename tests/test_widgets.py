"""course_utils.display.widgets: driving the LoRA explorer's sliders/checkboxes and the NF4 blocksize explorer's
dropdown from
Python shows the exact counts and bits per parameter."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
import torch
from transformers import BertConfig

from course_utils.adapters.params import count_trainable
from course_utils.display.widgets import BlocksizeExplorer, LoraExplorer, blocksize_explorer, lora_explorer
from course_utils.quant import nf4, quant_study
from course_utils.runtime.presets import config_only_model, klue_bert_base_config

KLUE_TARGETS = ["query", "key", "value", "dense"]


@pytest.fixture(scope="module")
def klue_model():
    """klue/bert-base shaped classifier on the meta device, built once."""
    return config_only_model(klue_bert_base_config())


@pytest.fixture(scope="module")
def tiny_model():
    """Tiny BERT classifier (hidden 32, ffn 64, 2 layers) on the meta device."""
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return config_only_model(config)


def check(w: LoraExplorer, targets: list[str]) -> None:
    """Helper: choose exactly these target checkboxes."""
    for name, box in w.targets.items():
        box.value = name in targets


def test_structure_core_widgets_only(tiny_model):
    w = lora_explorer(tiny_model)
    assert isinstance(w, widgets.VBox)
    assert (w.rank.min, w.rank.max, w.alpha.min, w.alpha.max) == (1, 256, 1, 512)
    assert list(w.targets) == ["query", "key", "value", "dense"]  # classifier is not offered under SEQ_CLS
    assert w.selected_targets() == ["query", "value"]

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    assert all(type(x).__module__.startswith("ipywidgets") for x in walk(w) if x is not w)


def test_rank_slider_updates_total_tiny(tiny_model):
    w = lora_explorer(tiny_model)
    w.rank.value = 4
    # 2 layers x (query + value) x 4 x (32 + 32) + classifier copy 32*2 + 2
    assert w.state["trainable"] == 2 * 2 * 4 * 64 + 66 == 1_090
    assert "1,090" in w.total.value
    assert w.state == {**w.state, "r": 4, "alpha": 16}


def test_klue_numbers_shown(klue_model):
    w = lora_explorer(klue_model)
    check(w, KLUE_TARGETS)
    w.alpha.value = 32
    w.rank.value = 8
    assert (w.state["trainable"], w.state["total"]) == (1_340_930, 111_959_812)
    assert "1,340,930" in w.total.value and "111,959,812" in w.total.value and "1.1977%" in w.total.value
    w.rank.value = 16
    assert "2,680,322" in w.total.value
    assert w.state["trainable"] == count_trainable(klue_model, r=16, target_modules=KLUE_TARGETS)[0]
    w.dora.value = True
    assert "2,764,034" in w.total.value
    w.rank.value = 8
    assert "1,424,642" in w.total.value
    assert "DoRA 크기 벡터" in w.table.value  # Korean header of the DoRA magnitude column


def test_targets_checkboxes_change_total(klue_model):
    w = lora_explorer(klue_model, r=8)
    assert "296,450" in w.total.value  # default q, v (facts §5)
    w.targets["key"].value = True
    assert "443,906" in w.total.value
    assert "bert.encoder.layer.*.attention.self.key" in w.table.value


def test_alpha_changes_scaling_not_count(klue_model):
    w = lora_explorer(klue_model, r=8, alpha=16)
    before = w.state["trainable"]
    w.alpha.value = 32
    assert w.state["trainable"] == before
    assert w.state["scaling"] == 4.0 and w.state["scaling_rslora"] == pytest.approx(11.3137, abs=1e-4)
    assert "α/r = 4" in w.total.value and "α/√r = 11.3" in w.total.value


def test_sizes_in_mb(klue_model):
    w = lora_explorer(klue_model, r=8, alpha=32, targets=KLUE_TARGETS)
    assert w.state["mb_fp32"] == pytest.approx(1_340_930 * 4 / 1e6)
    assert w.state["mb_bf16"] == pytest.approx(1_340_930 * 2 / 1e6)
    assert "5.36 MB (fp32)" in w.total.value and "2.68 MB (bf16)" in w.total.value


def test_table_rows(klue_model):
    w = lora_explorer(klue_model, r=8, targets=KLUE_TARGETS)
    table = w.table.value
    modules = ("attention.self.query", "attention.output.dense", "intermediate.dense", "bert.pooler.dense")
    for module in modules:
        assert module in table
    assert "368,640" in table  # 12 x 8 x (768 + 3072) for intermediate.dense
    assert "1,538" in table  # classifier copy


def test_too_large_rank_is_counted_like_peft_and_flagged(tiny_model):
    w = lora_explorer(tiny_model)
    w.rank.value = 40  # > hidden size 32: peft builds it, so it is counted, with a note that it is not low rank
    assert w.state["trainable"] == count_trainable(tiny_model, r=40, target_modules=w.state["targets"])[0]
    assert w.state["not_low_rank"] > 0 and "더 이상 저랭크가 아닙니다" in w.total.value and w.table.value
    w.rank.value = 8
    assert w.state["not_low_rank"] == 0 and "저랭크" not in w.total.value


def test_no_target_selected(tiny_model):
    w = lora_explorer(tiny_model)
    check(w, [])
    assert w.state == {"error": "no target"}
    assert "하나 이상" in w.total.value


def test_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match=r"targets \['q_proj'\] are not Linear layer names.*allowed"):
        lora_explorer(tiny_model, targets=["q_proj"])


# ----------------------------------------------------------------------------------------------------
# NF4 blocksize explorer
# ----------------------------------------------------------------------------------------------------


def test_blocksize_explorer_shows_bits_per_parameter():
    w = blocksize_explorer(torch.randn(4096))
    assert isinstance(w, BlocksizeExplorer) and isinstance(w, widgets.VBox)
    assert list(w.blocksize.options) == list(nf4.ALLOWED_BLOCKSIZES)
    w.double_quant.value = False
    w.blocksize.value = 64
    assert "4.5 bits/param" in w.readout.value and w.state["bits"] == 4.5
    w.double_quant.value = True
    assert "4.12695 bits/param" in w.readout.value and w.state["bits"] == 4.126953125
    w.blocksize.value = 256
    assert w.state["bits"] == 4 + 8 / 256 + 32 / (256 * 256)
    assert "<td>256</td>" in w.table.value


def test_blocksize_explorer_mse_is_the_quant_study_number():
    x = torch.randn(8192, generator=torch.Generator().manual_seed(4))
    w = blocksize_explorer(x, blocksize=128, double_quant=False)
    assert w.state["mse"] == quant_study.quantization_mse(x, "nf4", 128)
    w.blocksize.value = 4096
    assert w.state["mse"] > quant_study.quantization_mse(x, "nf4", 128)  # bigger blocks, bigger error
    assert f"MSE {w.state['mse']:.4g}" in w.readout.value


def test_blocksize_explorer_bad_arguments():
    with pytest.raises(ValueError, match=r"blocksize must be one of \(32, 64"):
        blocksize_explorer(blocksize=100)
    with pytest.raises(TypeError, match="blocksize must be an int"):
        blocksize_explorer(blocksize="64")
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got str"):
        blocksize_explorer("weights")
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got int"):
        blocksize_explorer(3)


def test_labels_and_headers_are_korean(klue_model):
    w = lora_explorer(klue_model, r=8, targets=KLUE_TARGETS)
    assert (w.rank.description, w.alpha.description) == ("랭크 r", "알파 α")
    for header in ("모듈", "모양 (out×in)", "개수", "모듈당 LoRA", "LoRA 파라미터"):
        assert f">{header}</th>" in w.table.value
    assert "LoRA params" not in w.table.value and "count" not in w.table.value
    b = blocksize_explorer(torch.randn(4096, generator=torch.Generator().manual_seed(0)))
    assert b.blocksize.description == "블록 크기" and "파라미터당 비트" in b.table.value
