"""Notebook 06's library (course_utils/llm): template and masking (against trl), generation and scoring, the 4-bit
causal-LM loader on several architectures, SFT, save/reload/merge, the bundled data and the budget rule."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    FalconConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
)

from course_utils.adapters.params import count_trainable
from course_utils.llm import budget
from course_utils.llm.data import answers, load_instructions
from course_utils.llm.deploy import folder_mb, merge_adapter, update_vs_requantization
from course_utils.llm.generation import generate_answers, score
from course_utils.llm.models import TINY_MODEL_DIR, load_causal_lm, load_tokenizer, shape_only
from course_utils.llm.prompts import (
    check_row,
    format_prompt,
    loss_with_and_without_mask,
    mask_prompt,
    style_token_table,
    token_table,
)
from course_utils.llm.sft import build_sft_trainer, keep_adapter_fp32, mixed_precision, trl_labels
from course_utils.runtime.models import quantized_modules

TINY = str(TINY_MODEL_DIR)
ROW = {"instruction": "다음 영화 리뷰의 감정을 긍정 또는 부정으로 답하세요.", "input": "연기가 정말 자연스럽다",
       "output": "긍정"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY)


@pytest.fixture(scope="module")
def rows():
    return load_instructions("aspect", "train")[:24]


# --- template and masking -------------------------------------------------------------------------------------------

def test_mask_prompt_hides_every_prompt_token_and_keeps_the_answer_and_end(tokenizer):
    ex = mask_prompt(ROW, tokenizer, 128)
    prompt_ids = tokenizer(format_prompt(ROW))["input_ids"]
    answer_ids = tokenizer("긍정", add_special_tokens=False)["input_ids"]
    assert ex["input_ids"] == prompt_ids + answer_ids + [tokenizer.eos_token_id]
    assert ex["labels"] == [-100] * len(prompt_ids) + answer_ids + [tokenizer.eos_token_id]
    assert ex["input_ids"][0] == tokenizer.bos_token_id


def test_our_masking_equals_what_trl_trains_on(tokenizer, rows):
    model = get_peft_model(load_causal_lm(TINY), LoraConfig(task_type="CAUSAL_LM", r=2, target_modules="all-linear"))
    data = build_sft_trainer(model, tokenizer, rows, learning_rate=1e-4, max_steps=1, batch_size=4,
                             max_length=128).train_dataset
    for row, ex in zip(rows, data):
        ours = mask_prompt(row, tokenizer, 128)
        assert ours["input_ids"] == ex["input_ids"]
        assert ours["labels"] == trl_labels(ex)


def test_a_prompt_is_a_token_prefix_of_prompt_plus_answer_for_every_bundled_row(tokenizer):
    for task in ("aspect", "sentiment"):
        for split in ("train", "validation", "test"):
            for row in load_instructions(task, split):
                prompt = tokenizer(format_prompt(row))["input_ids"]
                both = tokenizer(format_prompt(row) + row["output"])["input_ids"]
                assert both[:len(prompt)] == prompt and tokenizer.unk_token_id not in both, row["id"]


@pytest.mark.parametrize("row, error, field", [
    ({"input": "x", "output": "긍정"}, KeyError, "instruction"),
    ({"instruction": "x", "input": "y"}, KeyError, "output"),
    ({"instruction": "x", "input": "y", "output": "  "}, ValueError, "output"),
    ({"instruction": "", "input": "y", "output": "z"}, ValueError, "instruction"),
    ({"instruction": "x", "input": 3, "output": "z"}, TypeError, "input"),
    ("리뷰 한 줄", TypeError, "dict"),
])
def test_bad_rows_get_an_error_naming_the_field(row, error, field):
    with pytest.raises(error, match=field):
        check_row(row)


def test_a_row_without_input_uses_the_template_without_input(tokenizer):
    prompt = format_prompt({"instruction": "인사말을 쓰세요.", "output": "안녕하세요"})
    assert "### 입력" not in prompt and prompt.endswith("### 응답:\n")
    assert format_prompt({"instruction": "x", "input": None}) == format_prompt({"instruction": "x"})


def test_a_prompt_longer_than_max_length_is_an_error_not_a_silent_cut(tokenizer):
    with pytest.raises(ValueError, match="max_length=16"):
        mask_prompt(ROW, tokenizer, 16)


def test_token_table_and_the_masking_lesson(tokenizer, rows):
    table = token_table(rows[0], tokenizer)
    assert table["손실에 포함"].sum() == len(tokenizer(rows[0]["output"], add_special_tokens=False)["input_ids"]) + 1
    html = style_token_table(table).to_html()
    assert "&lt;/s&gt;" in html and "font-weight: bold" in html and "color: #999999" in html
    losses = loss_with_and_without_mask(load_causal_lm(TINY), tokenizer, rows[:4])
    assert 0 < losses["answer_share"] < 0.1
    assert losses["masked_loss"] > 0 and losses["unmasked_loss"] > 0


# --- generation and scoring ----------------------------------------------------------------------------------------

def test_greedy_answers_are_the_same_in_a_batch_and_one_by_one(tokenizer):
    model = load_causal_lm(TINY)
    test = load_instructions("aspect", "test")[:6]
    batched = generate_answers(model, tokenizer, test, batch_size=6)
    single = [generate_answers(model, tokenizer, [row])[0] for row in test]
    assert batched == single
    assert tokenizer.padding_side == "right"  # restored
    raw = generate_answers(model, tokenizer, test, max_new_tokens=6, first_line=False)
    assert [r.replace("⏎", "\n").replace("</s>", "").strip().split("\n")[0].strip() for r in raw] == \
        generate_answers(model, tokenizer, test, max_new_tokens=6)
    assert "\n" not in "".join(raw) and "<pad>" not in "".join(raw)


def test_score_counts_exact_and_well_formed_answers():
    rows = [{"output": "연기"}, {"output": "음악"}, {"output": "결말"}, {"output": "대사"}]
    assert score(["연기", "연출", "안녕", ""], rows, ["연기", "연출", "음악", "결말", "대사"]) == {
        "exact": 0.25, "format": 0.5}
    with pytest.raises(ValueError, match="same length"):
        score(["연기"], rows, ["연기"])
    with pytest.raises(ValueError, match="empty"):
        score([], [], ["연기"])


def test_a_string_where_a_list_of_rows_is_expected_is_refused(tokenizer):
    with pytest.raises(TypeError, match="list of rows"):
        generate_answers(load_causal_lm(TINY), tokenizer, "리뷰")


# --- the loader, peft's counts and SFT on other architectures -------------------------------------------------------

def _save_tiny(arch: str, folder, vocab: int):
    common = {"vocab_size": vocab, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    config = {
        "llama-untied": LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                                    num_key_value_heads=1, tie_word_embeddings=False, **common),
        "gpt2": GPT2Config(n_embd=64, n_layer=2, n_head=2, n_positions=256, **common),
        "gpt-neox": GPTNeoXConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                                  max_position_embeddings=256, **common),
        "falcon": FalconConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, **common),
    }[arch]
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return str(folder)


def _packed_layers(model) -> list[str]:
    return [name for name, m in model.named_modules()
            if getattr(getattr(getattr(m, "weight", None), "quant_state", None), "packing_format_for_cpu", False)]


@pytest.mark.parametrize("arch", ["llama-untied", "gpt2", "gpt-neox", "falcon"])
def test_qlora_sft_runs_on_other_causal_architectures_and_counts_match_peft(arch, tokenizer, rows, tmp_path):
    path = _save_tiny(arch, tmp_path / arch, len(tokenizer))
    try:
        model = load_causal_lm(path)
        assert quantized_modules(model)
        # the output layer stays out of 4-bit on every architecture and transformers version
        assert not any(name.endswith(("lm_head", "embed_out")) for name in quantized_modules(model))
    except ValueError as err:
        # transformers 5.24 converts only exact nn.Linear / Conv1D: Falcon's FalconLinear (a subclass) stays as it is
        # (5.0 converted it); the error says so, and LoRA on the 16/32-bit model still works
        assert arch == "falcon" and "FalconLinear" in str(err)
        model = load_causal_lm(path, four_bit=False)
    config = LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear")
    peft_model = get_peft_model(model, config)
    assert count_trainable(shape_only(path), "lora", r=4, target_modules="all-linear",
                           task_type="CAUSAL_LM") == peft_model.get_nb_trainable_parameters()
    trainer = build_sft_trainer(peft_model, tokenizer, rows, learning_rate=1e-3, max_steps=2, batch_size=4,
                                max_length=128)
    trainer.train()
    assert len(generate_answers(peft_model, tokenizer, rows[:2], max_new_tokens=2)) == 2
    assert not _packed_layers(peft_model)  # generating in eval mode left every 4-bit layer on the portable path
    trainer.train()  # so training again after generating works on every CPU


def test_the_loader_refuses_a_non_bool_four_bit():
    with pytest.raises(TypeError, match="four_bit"):
        load_causal_lm(TINY, four_bit="yes")


def test_adapters_stay_fp32_after_trl_casts_them_to_bf16():
    layer = torch.nn.Linear(4, 4).to(torch.bfloat16)
    frozen = torch.nn.Linear(4, 4).to(torch.bfloat16).requires_grad_(False)
    assert keep_adapter_fp32(torch.nn.Sequential(layer, frozen)) == 2  # weight + bias
    assert layer.weight.dtype == torch.float32 and frozen.weight.dtype == torch.bfloat16
    assert mixed_precision("cpu") == {"bf16": False, "fp16": False}


# --- train, save, reload, merge ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = get_peft_model(load_causal_lm(TINY), LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16,
                                                            target_modules="all-linear"))
    build_sft_trainer(model, tokenizer, load_instructions("aspect", "train"), learning_rate=3e-3, max_steps=60,
                      batch_size=16, max_length=128).train()
    folder = tmp_path_factory.mktemp("adapter") / "aspect"
    model.save_pretrained(folder)
    return model, folder


def test_sft_teaches_the_format_and_a_reloaded_adapter_answers_the_same(trained, tokenizer):
    model, folder = trained
    test = load_instructions("aspect", "test")[:40]
    before = score(generate_answers(load_causal_lm(TINY), tokenizer, test), test, answers("aspect"))
    after_answers = generate_answers(model, tokenizer, test)
    after = score(after_answers, test, answers("aspect"))
    assert before["format"] == 0.0 and after["format"] >= 0.9
    reloaded = PeftModel.from_pretrained(load_causal_lm(TINY), folder)
    assert generate_answers(reloaded, tokenizer, test) == after_answers
    assert 0 < folder_mb(folder) < 1


def test_merged_model_equals_the_adapter_on_the_same_fp32_base(trained, tokenizer):
    _, folder = trained
    merged = merge_adapter(TINY, folder)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32), folder)
    batch = tokenizer([format_prompt(ROW)], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, unmerged(**batch).logits, atol=1e-4, rtol=1e-4)
    table = update_vs_requantization(AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32), merged)
    assert len(table) == 4 * 7 and (table.iloc[:, 0] > 0).all() and (table.iloc[:, 1] > 0).all()
    with pytest.raises(ValueError, match="no Linear"):
        update_vs_requantization(torch.nn.Sequential(), merged)


# --- data, budget, the base model build ------------------------------------------------------------------------------

def test_bundled_instructions_are_disjoint_and_well_formed():
    seen = {}
    for task in ("aspect", "sentiment"):
        for split, n in (("train", 1200), ("validation", 120), ("test", 120)):
            part = load_instructions(task, split)
            assert len(part) == n
            for row in part:
                check_row(row)
                assert row["input"] not in seen, (row["id"], seen.get(row["input"]))
                seen[row["input"]] = row["id"]
    corpus = set(open(budget.SWEEP_FILE.parents[1] / "data" / "ko_corpus.txt", encoding="utf-8").read().splitlines())
    assert not corpus & set(seen), "an instruction review is also in the pretraining corpus"
    assert answers("sentiment") == ["긍정", "부정"] and len(answers("aspect")) == 8
    with pytest.raises(ValueError, match="task must be one of"):
        load_instructions("summary", "train")


def test_the_budget_is_chosen_on_validation_by_the_stated_rule():
    fixed = {"batch_size": 16, "max_length": 128, "seed": 42}
    runs = [{"task": "aspect", "steps": s, "learning_rate": lr, "rank": 16, "validation_exact": acc}
            for s, lr, acc in ((150, 1e-3, 0.5), (300, 3e-3, 0.9), (400, 3e-3, 0.9), (400, 1e-3, 0.7))]
    sweep = {"meta": {"selected_on": "validation", "fixed": fixed}, "runs": runs}
    assert budget.selected_budget("aspect", sweep)["steps"] == 300
    with pytest.raises(ValueError, match="validation"):
        budget.selected_budget("aspect", {**sweep, "meta": {"selected_on": "test", "fixed": fixed}})
    with pytest.raises(ValueError, match="no sweep run"):
        budget.selected_budget("sentiment", sweep)


def test_the_stored_sweep_was_scored_on_validation_and_covers_both_tasks():
    sweep = budget.load_sweep()
    assert sweep["meta"]["selected_on"] == "validation"
    for task, grid in budget.GRID.items():
        done = {(r["steps"], r["learning_rate"]) for r in sweep["runs"] if r["task"] == task}
        assert done == {(s, lr) for s in grid["steps"] for lr in grid["learning_rate"]}
        assert budget.selected_budget(task, sweep)["validation_exact"] >= 0.8


def test_the_base_model_build_script_makes_a_loadable_model(tmp_path):
    from course_utils.llm import build_base

    assert build_base.main(["--out", str(tmp_path / "m"), "--steps", "3"]) == 0
    built = json.loads((tmp_path / "m" / "build.json").read_text())
    assert built["recipe"]["steps"] == 3 and built["parameters"] == json.loads(
        (TINY_MODEL_DIR / "build.json").read_text())["parameters"]
    assert generate_answers(load_causal_lm(str(tmp_path / "m")), load_tokenizer(str(tmp_path / "m")), [ROW])
