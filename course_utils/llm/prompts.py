"""The instruction template and loss masking: the loss covers only the answer (labels -100 on the prompt)."""

from __future__ import annotations

from collections.abc import Mapping

#: One Korean template (the KoAlpaca style: ### 명령어 / ### 입력 / ### 응답). The prompt ends with a line break, so
#: the answer starts on a token boundary (the tokenized prompt is a prefix of the tokenized prompt + answer).
TEMPLATE = "### 명령어:\n{instruction}\n\n### 입력:\n{input}\n\n### 응답:\n"
TEMPLATE_NO_INPUT = "### 명령어:\n{instruction}\n\n### 응답:\n"
FIELDS = ("instruction", "input", "output")


def check_row(row: Mapping, where: str = "row", need_output: bool = True) -> None:
    """A clear error naming the field, never a silent skip: missing fields, non-text values, an empty instruction or
    an empty answer (`need_output=False`: a prompt to generate from has no answer yet)."""
    if not isinstance(row, Mapping):
        raise TypeError(f"{where}: 데이터 한 줄은 instruction/input/output 필드를 가진 dict여야 합니다 "
                        f"(a row must be a dict with fields {FIELDS}), got {type(row).__name__}")
    for field in FIELDS if need_output else FIELDS[:2]:
        if field == "input" and row.get(field) is None:
            continue  # input is optional (KoAlpaca rows often have none)
        if field not in row:
            raise KeyError(f"{where}: '{field}' 필드가 없습니다 (missing field '{field}'; rows need {FIELDS})")
        if not isinstance(row[field], str):
            raise TypeError(f"{where}: '{field}'는 문자열이어야 합니다 (field '{field}' must be str), "
                            f"got {type(row[field]).__name__}")
    for field in ("instruction", "output") if need_output else ("instruction",):
        if not row[field].strip():
            raise ValueError(f"{where}: '{field}'가 비어 있습니다 (field '{field}' is empty)")


def format_prompt(row: Mapping) -> str:
    """The prompt text the model sees: the template filled with the row's instruction (and input, if any)."""
    check_row(row, need_output=False)
    if (row.get("input") or "").strip():
        return TEMPLATE.format(instruction=row["instruction"].strip(), input=row["input"].strip())
    return TEMPLATE_NO_INPUT.format(instruction=row["instruction"].strip())


def to_prompt_completion(row: Mapping) -> dict[str, str]:
    """trl's prompt-completion format: trl tokenizes both and masks the prompt (completion_only_loss)."""
    check_row(row)
    return {"prompt": format_prompt(row), "completion": row["output"].strip()}


def mask_prompt(row: Mapping, tokenizer, max_length: int) -> dict[str, list[int]]:
    """프롬프트 토큰의 레이블을 -100으로 가려서, 손실이 응답 토큰에서만 계산되게 합니다."""
    check_row(row)
    prompt_ids = tokenizer(format_prompt(row))["input_ids"]          # 프롬프트 (<s> 포함)
    answer_ids = tokenizer(row["output"].strip(), add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids + [tokenizer.eos_token_id]                # 응답 끝 표시
    if len(prompt_ids) + len(answer_ids) > max_length:                # 말없이 자르지 않습니다
        raise ValueError(f"프롬프트+응답이 {len(prompt_ids) + len(answer_ids)} 토큰으로 max_length={max_length}보다 "
                         f"깁니다 (prompt + answer longer than max_length)")
    input_ids = prompt_ids + answer_ids
    labels = [-100] * len(prompt_ids) + answer_ids                   # 프롬프트는 -100: 손실에서 빠짐
    return {"input_ids": input_ids, "labels": labels}


def token_table(row: Mapping, tokenizer, max_length: int = 256):
    """One example as a table: each token, its label (-100 on the prompt) and whether the loss counts it."""
    import pandas as pd

    example = mask_prompt(row, tokenizer, max_length)
    tokens = tokenizer.convert_ids_to_tokens(example["input_ids"])
    return pd.DataFrame({"토큰": [t.replace("\n", "⏎") for t in tokens], "레이블": example["labels"],
                         "손실에 포함": [label != -100 for label in example["labels"]]})


def style_token_table(table, last: int = 10):
    """The last `last` rows of :func:`token_table`, prompt tokens greyed and answer tokens bold; special tokens such as
    ``</s>`` are escaped, so HTML shows them instead of reading them as tags."""
    shown = table.tail(last)

    def look(row):
        return ["font-weight: bold" if row["손실에 포함"] else "color: #999999"] * len(row)

    return shown.style.apply(look, axis=1).format(escape="html").hide(axis="index")


def loss_with_and_without_mask(model, tokenizer, rows, max_length: int = 256) -> dict[str, float]:
    """The same batch scored two ways: mean loss over answer tokens only (masked) and over every token (unmasked),
    plus the share of tokens that are answer tokens."""
    import torch

    examples = [mask_prompt(row, tokenizer, max_length) for row in rows]
    masked_sum, full_sum, n_answer, n_all = 0.0, 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        for ex in examples:
            ids = torch.tensor([ex["input_ids"]], device=model.device)
            labels = torch.tensor([ex["labels"]], device=model.device)
            logits = model(input_ids=ids).logits[0, :-1].float()
            per_token = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
            answer = labels[0, 1:] != -100
            masked_sum += per_token[answer].sum().item()
            full_sum += per_token.sum().item()
            n_answer, n_all = n_answer + int(answer.sum()), n_all + per_token.numel()
    return {"masked_loss": masked_sum / n_answer, "unmasked_loss": full_sum / n_all, "answer_share": n_answer / n_all}
