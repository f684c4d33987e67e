"""Greedy answers to held-out prompts and how many are right (exact match) or at least well formed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from course_utils.llm.prompts import format_prompt


@torch.no_grad()
def generate_answers(model, tokenizer, rows: Sequence[Mapping], max_new_tokens: int = 8,
                     batch_size: int = 16, first_line: bool = True) -> list[str]:
    """Greedy decoding (deterministic) of each row's prompt; the answer is the text up to the first line break
    (`first_line=False`: the whole continuation with its end token, line breaks shown as ⏎)."""
    if isinstance(rows, (str, Mapping)):
        raise TypeError("rows must be a list of rows (dicts with instruction/input), not a single "
                        f"{type(rows).__name__}")
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # a decoder continues from the right end of every prompt
    answers = []
    try:
        for start in range(0, len(rows), batch_size):
            prompts = [format_prompt(row) for row in rows[start:start + batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]
            if first_line:
                answers += [text.strip().split("\n")[0].strip()
                            for text in tokenizer.batch_decode(new, skip_special_tokens=True)]
            else:  # everything it wrote, the end token included (padding after it left out)
                kept = [[t for t in row.tolist() if t != tokenizer.pad_token_id] for row in new]
                answers += [tokenizer.decode(ids).replace("\n", "⏎") for ids in kept]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def score(answers: Sequence[str], rows: Sequence[Mapping], allowed: Sequence[str]) -> dict[str, float]:
    """exact: the answer equals the row's output; format: the answer is one of the `allowed` answers."""
    if len(answers) != len(rows):
        raise ValueError(f"answers ({len(answers)}) and rows ({len(rows)}) must have the same length")
    if not rows:
        raise ValueError("rows is empty: nothing to score")
    exact = sum(a == row["output"].strip() for a, row in zip(answers, rows)) / len(rows)
    allowed = set(allowed)
    well_formed = sum(a in allowed for a in answers) / len(rows)
    return {"exact": round(exact, 4), "format": round(well_formed, 4)}
