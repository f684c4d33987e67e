"""Models per profile, the 4-bit loader, and train_and_evaluate on the real Trainer (tiny models)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from datasets import Dataset, DatasetDict
from peft import LoraConfig, get_peft_model

from course_utils.runtime import data as D
from course_utils.runtime.env import make_profile, with_sizes
from course_utils.runtime.models import (
    load_classifier,
    load_classifier_4bit,
    load_model_and_tokenizer,
    quantized_modules,
    tokenize,
)
from course_utils.runtime.training import (
    EXAMPLE_ID,
    ExampleRecorder,
    StepProgress,
    build_trainer,
    compute_metrics,
    evaluate_accuracy,
    measure_parameters,
    train_and_evaluate,
)


def test_offline_profile_loads_pretrained_minilm():
    model, tokenizer = load_model_and_tokenizer(make_profile("offline"))
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.num_labels == 2 and model.config.id2label == {0: "negative", 1: "positive"}
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (384, 6)
    # pretrained, not random: the word embeddings are the shipped ones
    assert tokenizer.tokenize("unbelievable") != ["[UNK]"]
    assert model.bert.embeddings.word_embeddings.weight.std() > 0.03


def test_klue_code_path_with_local_stand_in(tiny_klue_dir, nsmc_parquet_dir, monkeypatch):
    """What Colab runs (klue-shaped BERT on NSMC), with a tiny local model and NSMC-format parquet."""
    monkeypatch.setattr(D, "NSMC_HUB_ID", str(nsmc_parquet_dir))
    profile = replace(with_sizes(make_profile("colab", device="cpu"), n_train=64, n_validation=16, n_test=32,
                                 max_length=32, batch_size=8), model_id=str(tiny_klue_dir))
    model, tokenizer = load_model_and_tokenizer(profile)
    data = D.load_course_data(profile)
    lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8,
                                            target_modules=["query", "key", "value", "dense"]))
    result = train_and_evaluate(lora, tokenizer, data, method="lora", learning_rate=1e-3, max_steps=4,
                                batch_size=profile.batch_size, max_length=profile.max_length)
    assert result.steps == 4 and 0.0 <= result.accuracy <= 1.0
    assert result.trainable_params == lora.get_nb_trainable_parameters()[0]
    assert result.peak_memory_kind == "process peak RSS" and result.peak_memory_mb > 0


def test_4bit_loader_keeps_classifier_and_pooler_full_precision(tiny_klue_dir):
    model = load_classifier_4bit(str(tiny_klue_dir))
    names = quantized_modules(model)
    assert "bert.encoder.layer.0.attention.self.query" in names
    assert len(names) == 2 * 6  # q, k, v, attention out, intermediate, output per layer
    assert not any(n.startswith(("classifier", "bert.pooler")) for n in names)
    layer = model.bert.encoder.layer[0].attention.self.query
    assert layer.weight.quant_type == "nf4" and layer.weight.quant_state.nested  # NF4 + double quant
    assert isinstance(model.classifier, torch.nn.Linear) and model.classifier.weight.dtype == torch.float32
    get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"]))


def test_4bit_loader_rejects_a_model_with_nothing_to_quantize(tiny_klue_dir):
    with pytest.raises(ValueError, match="no nn.Linear layers left to quantize"):
        load_classifier_4bit(str(tiny_klue_dir), skip_modules=["bert", "classifier"])


def test_bad_arguments(tiny_klue_dir):
    with pytest.raises(ValueError, match="num_labels"):
        load_classifier(str(tiny_klue_dir), num_labels=1)
    _, tokenizer = load_model_and_tokenizer(make_profile("offline"))
    with pytest.raises(ValueError, match="max_length"):
        tokenize(Dataset.from_dict({"document": ["x"], "label": [0]}), tokenizer, max_length=0)


@pytest.fixture(scope="module")
def tiny_setup(tiny_klue_dir):
    model = load_classifier(str(tiny_klue_dir))
    _, tokenizer = load_model_and_tokenizer(replace(make_profile("offline"), model_id=str(tiny_klue_dir)))
    docs = ["영화 정말 최고", "영화 별로 없다", "정말 재미 없다", "좋아요 최고 ㅋㅋ"] * 4
    data = DatasetDict({"train": Dataset.from_dict({"document": docs, "label": [1, 0, 0, 1] * 4}),
                        "test": Dataset.from_dict({"document": docs[:4], "label": [1, 0, 0, 1]})})
    return model, tokenizer, data


def test_train_and_evaluate_full_fine_tuning_record(tiny_setup):
    model, tokenizer, data = tiny_setup
    before = [p.detach().clone() for p in model.parameters()]
    result = train_and_evaluate(model, tokenizer, data, method="full", learning_rate=1e-3, max_steps=3,
                                batch_size=4, max_length=16)
    assert result.method == "full" and result.steps == 3 and result.eval_split == "test"
    assert result.trainable_params == result.total_params == sum(p.numel() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it trained
    assert set(result.as_dict()) >= {"accuracy", "train_seconds", "samples_per_second", "peak_memory_mb"}
    assert 0.0 <= evaluate_accuracy(model, tokenizer, data, max_length=16) <= 1.0


def test_train_and_evaluate_records_examples_and_saves(tiny_setup, tmp_path):
    """The hooks python -m course_utils.runs.train uses: a recording collator + callback, and save_dir."""
    model, tokenizer, data = tiny_setup
    data = DatasetDict({"train": data["train"].add_column(EXAMPLE_ID, list(range(16))), "test": data["test"]})
    recorder = ExampleRecorder(tokenizer, tmp_path / "examples.json")
    result = train_and_evaluate(model, tokenizer, data, method="full", learning_rate=1e-3, max_steps=3, batch_size=4,
                                max_length=16, data_collator=recorder, callbacks=[recorder], save_dir=tmp_path / "m")
    import json

    log = json.loads((tmp_path / "examples.json").read_text())
    assert result.world_size == 1 and log["steps"] == 3 and log["world_size"] == 1
    assert [len(batch) for batch in log["batches"]] == [4, 4, 4]
    assert len({i for batch in log["batches"] for i in batch}) == 12  # one epoch is 16: no repeats within it
    assert (tmp_path / "m" / "config.json").is_file() and (tmp_path / "m" / "tokenizer_config.json").is_file()


@pytest.mark.parametrize("kwargs, message", [
    ({"learning_rate": 0}, "learning_rate"),
    ({"max_steps": 0}, "max_steps"),
    ({"batch_size": -1}, "batch_size"),
    ({"eval_split": "validation"}, "'validation' split"),
])
def test_train_and_evaluate_rejects_bad_arguments(tiny_setup, kwargs, message):
    model, tokenizer, data = tiny_setup
    args = {"method": "full", "learning_rate": 1e-3, "max_steps": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        train_and_evaluate(model, tokenizer, data, **args)


def test_training_output_is_one_progress_bar_without_log_tables(tiny_setup, capfd, monkeypatch):
    """In Jupyter the Trainer's default progress callback draws an empty "Step | Training Loss / No log" table."""
    import transformers.trainer
    from transformers.utils.notebook import NotebookProgressCallback

    monkeypatch.setattr(transformers.trainer, "DEFAULT_PROGRESS_CALLBACK", NotebookProgressCallback)
    model, tokenizer, data = tiny_setup
    evaluate_accuracy(model, tokenizer, data, max_length=16)
    train_and_evaluate(model, tokenizer, data, method="full", learning_rate=1e-3, max_steps=3, batch_size=4,
                       max_length=16)
    captured = capfd.readouterr()
    shown = captured.out + captured.err
    for noise in ("IPython", "No log", "train_runtime", "eval_loss", "Map", "%|█"):
        assert noise not in shown.replace("학습: 100%|█", ""), noise
    assert shown.count("학습:   0%") == 1 and "3/3" in shown   # one bar, and it reached the last step


def test_build_trainer_has_one_progress_callback_and_accuracy(tiny_setup):
    from transformers import PrinterCallback, ProgressCallback

    model, tokenizer, data = tiny_setup
    encoded = tokenize(data, tokenizer, 16)
    trainer = build_trainer(model, tokenizer, encoded["train"], encoded["test"], learning_rate=1e-3, max_steps=1,
                            batch_size=4)
    kinds = [type(cb) for cb in trainer.callback_handler.callbacks]
    assert kinds.count(StepProgress) == 1
    assert PrinterCallback not in kinds and ProgressCallback not in kinds
    assert trainer.args.eval_strategy == "no" and trainer.compute_metrics is compute_metrics
    assert "eval_accuracy" in trainer.evaluate()


def test_compute_metrics_and_measure_parameters():
    import numpy as np

    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert compute_metrics((logits, np.array([1, 0, 0]))) == {"accuracy": pytest.approx(2 / 3)}
    layer = torch.nn.Linear(3, 2)
    layer.bias.requires_grad_(False)
    assert measure_parameters(layer) == (6, 8)
