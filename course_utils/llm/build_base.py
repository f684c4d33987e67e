"""Build the course's tiny Korean causal LM (``ko-tiny-llama``) from the bundled corpus: ``make tiny-llm``.

No registry package ships a pretrained causal LM, and the hub is unreachable offline, so notebook 06's offline profile
needs a base model the course builds itself. This script

1. trains a byte-free BPE tokenizer (``tokenizers``) on ``data/ko_corpus.txt`` (hand-written reviews, CC0),
2. pretrains a 4-layer LLaMA-architecture model (``transformers.LlamaForCausalLM``, tied embeddings, GQA) on the same
   lines with next-token prediction, seeded, on the CPU,
3. saves model + tokenizer + a model card into ``course_utils/llm/ko_tiny_llama/`` (package data, a few MB).

It never sees the instruction template of notebook 06: before instruction tuning the model only continues reviews.
Rebuilding on another machine gives a model of the same size and quality, not the same bytes (float sums differ).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

OUT_DIR = Path(__file__).resolve().parent / "ko_tiny_llama"
CORPUS = Path(__file__).resolve().parents[2] / "data" / "ko_corpus.txt"
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
INSTRUCTIONS = CORPUS.with_name("ko_instructions.jsonl")
ARCH = {"hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 256}
RECIPE = {"vocab_size": 1200, "seed": 0, "steps": 1500, "batch_size": 32, "lr": 3e-3, "warmup": 100, "max_length": 64}


def template_characters() -> set[str]:
    """The characters of the template and the instructions: in the vocabulary although the corpus never has them."""
    from course_utils.llm.prompts import TEMPLATE

    rows = [json.loads(line) for line in INSTRUCTIONS.read_text(encoding="utf-8").splitlines()]
    return set(TEMPLATE) | {ch for row in rows for ch in row["instruction"]}


def train_tokenizer(lines: list[str], vocab_size: int):
    """A BPE tokenizer on whitespace-marked text (Metaspace, like SentencePiece) wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    # a line break is a token of its own: the prompt (ending in "\n") is then a prefix of prompt + answer
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("\n", "isolated"),
                                                  pre_tokenizers.Metaspace(prepend_scheme="never")])
    core.decoder = decoders.Metaspace(prepend_scheme="never")
    core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    alphabet = sorted(set("".join(lines)) | template_characters())
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=alphabet,
                                  show_progress=False)
    core.train_from_iterator(lines, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


def build_model(tokenizer, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **ARCH)
    return LlamaForCausalLM(config)


def pretrain(model, tokenizer, lines: list[str], recipe: dict) -> list[float]:
    """Next-token prediction on whole review lines (<s> review </s>), AdamW with warmup + cosine decay."""
    g = torch.Generator().manual_seed(recipe["seed"])
    enc = tokenizer([f"{t}</s>" for t in lines], truncation=True,
                    max_length=recipe["max_length"], padding=True, return_tensors="pt")
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=0.01)
    total, warm = recipe["steps"], recipe["warmup"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    losses = []
    model.train()
    for _ in range(total):
        idx = torch.randint(len(lines), (recipe["batch_size"],), generator=g)
        ids, mask = enc["input_ids"][idx], enc["attention_mask"][idx]
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--steps", type=int, default=RECIPE["steps"])
    args = parser.parse_args(argv)
    recipe = {**RECIPE, "steps": args.steps}
    started = time.time()
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    tokenizer = train_tokenizer(lines, recipe["vocab_size"])
    model = build_model(tokenizer, recipe["seed"])
    losses = pretrain(model, tokenizer, lines, recipe)
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    n = sum(p.numel() for p in model.parameters())
    summary = {"parameters": n, "recipe": recipe, "architecture": ARCH, "final_loss": round(sum(losses[-50:]) / 50, 3),
               "seconds": round(time.time() - started, 1), "torch": torch.__version__}
    (args.out / "build.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
