"""NF4 from first principles: codebook, blockwise quantize/dequantize, double quantization, bits per parameter.

The functions here are the readable reference, checked bit for bit against bitsandbytes 0.50's CPU kernels
(``tests/test_nf4.py``): :func:`nf4_codebook` equals ``bitsandbytes.functional.get_4bit_type("nf4")``,
:func:`quantize_nf4_reference` returns the bytes and absmax of ``quantize_4bit(x, blocksize, quant_type="nf4")``,
:func:`double_quantize` what ``quantize_4bit(..., compress_statistics=True)`` stores. The same results, faster,
are in :mod:`course_utils.quant.nf4_fast`; NF4 against FP4/INT4 and the blocksize studies in
:mod:`course_utils.quant.quant_study`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from course_utils.runtime import validate

__all__ = [
    "ALLOWED_BLOCKSIZES",
    "DQ_BLOCKSIZE",
    "NF4_OFFSET",
    "bits_per_parameter",
    "blockwise_absmax",
    "check_packed",
    "codebook_table",
    "dequantize_absmax",
    "dequantize_nf4_reference",
    "double_quantize",
    "dynamic_map",
    "memory_table",
    "nf4_codebook",
    "nf4_midpoints",
    "quantize_blockwise_8bit",
    "quantize_nf4_reference",
    "storage_bytes",
    "unpack_nf4",
    "weight_memory_bytes",
]

NF4_OFFSET = 0.9677083
"""Outermost quantile used by bitsandbytes' ``create_normal_map``; ≈ ½(29/30 + 31/32) = 0.96770833."""

ALLOWED_BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Block sizes ``bitsandbytes.functional.quantize_4bit`` accepts (it raises ValueError otherwise)."""

DQ_BLOCKSIZE = 256
"""Second-level block size of double quantization (QLoRA §3; bitsandbytes ``quantize_4bit``)."""


# ----------------------------------------------------------------------------------------------------
# The codebook
# ----------------------------------------------------------------------------------------------------


def nf4_codebook(offset: float = NF4_OFFSET) -> Tensor:
    """The 16 NF4 values (float32, sorted, -1 … 1) built from quantiles of N(0, 1).

    Asymmetric so that 0 is exact: 8 positive quantiles Φ⁻¹(p), p evenly spaced from ``offset`` down to 0.5
    (0.5 itself excluded), 7 negative ones, and 0; then everything is divided by the largest value.

    Args:
        offset (`float`): outermost quantile level, in (0.5, 1) (Φ⁻¹(1) = ∞). Defaults to bitsandbytes' 0.9677083.
    """
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not 0.5 < offset < 1.0:
        raise ValueError(f"offset must be a float in (0.5, 1); got {offset!r}")
    # 확률 p는 bitsandbytes처럼 float32 등간격, Φ⁻¹(p)는 float64로 계산한 뒤 float32로 한 번 반올림
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9)[:-1].double()).float()  # 양수 8개
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8)[:-1].double()).float()  # 음수 7개
    values = torch.cat([negative, torch.zeros(1), positive]).sort().values  # 7 + 0 + 8 = 16개
    return values / values.max()  # [-1, 1]로 정규화


def nf4_midpoints() -> Tensor:
    """The 15 float32 decision boundaries (code[i] + code[i+1]) / 2; a value exactly on one gets the lower code."""
    code = nf4_codebook()
    return (code[:-1] + code[1:]) / 2


def codebook_table():
    """pandas DataFrame of the 16 NF4 codes: 4-bit pattern, value, and the normal quantile level p it came from.

    ``p = Φ(value · Φ⁻¹(offset))``: equally spaced in probability, 7 steps below 0.5 and 8 steps above.
    """
    import pandas as pd

    code = nf4_codebook()
    z_max = torch.special.ndtri(torch.tensor(NF4_OFFSET, dtype=torch.float64))
    levels = torch.special.ndtr(code.double() * z_max)
    return pd.DataFrame({"code": range(16), "bits": [f"{i:04b}" for i in range(16)],
                         "value": code.tolist(), "quantile p": levels.tolist()})


# ----------------------------------------------------------------------------------------------------
# Quantize and dequantize: the reference students read
# ----------------------------------------------------------------------------------------------------


def blockwise_absmax(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Scale `x` block by block into [-1, 1] as bitsandbytes' CPU kernel does: ``(scaled fp32 values, absmax)``.

    Args:
        x (`torch.Tensor`): float32, bfloat16 or float16 weights, any shape (flattened row-major).
        blocksize (`int`): elements per block, one of :data:`ALLOWED_BLOCKSIZES`. Defaults to 64.
    """
    validate.float_tensor(x)
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    flat = x.reshape(-1).float()  # 한 줄로 펴고 fp32로 올린다 (bf16/fp16 입력도 계산 전에)
    n_full = flat.numel() // blocksize * blocksize  # 완전한 블록에 든 원소 수
    blocks = flat[:n_full].view(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)  # 블록마다 max|x|: 이 값을 fp32로 저장한다
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]).reshape(-1)  # 완전한 블록: 역수를 곱한다
    if n_full < flat.numel():  # 끝의 부분 블록은 자기 absmax로 '나눈다' (bitsandbytes 0.50 CPU 커널)
        tail_max = flat[n_full:].abs().amax().clamp(min=1e-38)
        scaled = torch.cat([scaled, flat[n_full:] / tail_max])
        absmax = torch.cat([absmax, tail_max.reshape(1)])
    if not bool(torch.isfinite(absmax).all()):  # NaN/inf가 든 블록은 absmax도 NaN/inf
        bad = int((~torch.isfinite(flat)).nonzero()[0])
        raise ValueError(f"x must be finite: it contains NaN or inf (first at flat index {bad})")
    return scaled, absmax


def quantize_nf4_reference(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Blockwise NF4 quantization: ``(packed uint8 of shape (ceil(n/2), 1), absmax float32)``.

    Bit-exact with ``bitsandbytes.functional.quantize_4bit(x, blocksize, quant_type="nf4")`` on CPU.

    Args:
        x (`torch.Tensor`): float32, bfloat16 or float16 weights, any shape (flattened row-major).
        blocksize (`int`): elements per block, one of :data:`ALLOWED_BLOCKSIZES`. Defaults to 64.
    """
    scaled, absmax = blockwise_absmax(x, blocksize)  # 블록마다 [-1, 1]로
    if scaled.numel() % 2:  # 홀수 길이: 0.0(코드 7)을 하나 덧붙여 짝을 맞춘다
        scaled = torch.cat([scaled, scaled.new_zeros(1)])
    codes = torch.bucketize(scaled, nf4_midpoints())  # 코드 = 값보다 작은 중점의 개수 (중점과 같으면 아래 코드)
    codes = codes.to(torch.uint8)
    packed = (codes[0::2] << 4) | codes[1::2]  # 두 코드를 한 바이트에: 첫 원소가 상위 4비트
    return packed.unsqueeze(1), absmax


def unpack_nf4(packed: Tensor, n: int) -> Tensor:
    """The first `n` 4-bit codes of `packed` as uint8 (high nibble first)."""
    flat = packed.reshape(-1)
    return torch.stack([flat >> 4, flat & 0x0F], dim=1).reshape(-1)[:n]


def check_packed(packed: Tensor, absmax: Tensor, shape: Sequence[int], blocksize: int,
                 dtype: torch.dtype) -> tuple[tuple[int, ...], int]:
    """Check a dequantizer's arguments against each other; return `shape` as a tuple and its element count."""
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8:
        got = packed.dtype if isinstance(packed, Tensor) else type(packed).__name__
        raise TypeError(f"packed must be a uint8 torch.Tensor (two 4-bit codes per byte); got {got}")
    if not isinstance(absmax, Tensor) or absmax.dtype != torch.float32:
        got = absmax.dtype if isinstance(absmax, Tensor) else type(absmax).__name__
        raise TypeError(f"absmax must be a float32 torch.Tensor; got {got}")
    validate.float_dtype(dtype)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or not shape:
        raise TypeError(f"shape must be a non-empty sequence of positive ints such as (768, 768); got {shape!r}")
    shape = tuple(validate.positive_int(d, f"shape[{i}]") for i, d in enumerate(shape))
    n = math.prod(shape)
    if packed.numel() != -(-n // 2):
        raise ValueError(f"packed must hold ceil(n/2) = {-(-n // 2)} bytes for shape {shape}; got {packed.numel()}")
    if absmax.numel() != -(-n // blocksize):
        raise ValueError(f"absmax must hold ceil(n/blocksize) = {-(-n // blocksize)} values for shape {shape} "
                         f"and blocksize {blocksize}; got {absmax.numel()}")
    return shape, n


def dequantize_nf4_reference(packed: Tensor, absmax: Tensor, shape: Sequence[int], blocksize: int = 64,
                             dtype: torch.dtype = torch.float32) -> Tensor:
    """Blockwise NF4 dequantization: ``code[q] * absmax[block]`` in fp32, cast to `dtype`, reshaped to `shape`.

    Equal to bitsandbytes' ``dequantize_4bit`` on CPU (blocks run over the flattened tensor).
    """
    shape, n = check_packed(packed, absmax, shape, blocksize, dtype)
    codes = unpack_nf4(packed, n).long()  # 바이트 하나 → 4비트 코드 두 개
    values = nf4_codebook()[codes]  # 코드 → NF4 값 (-1 … 1)
    scales = absmax.reshape(-1).repeat_interleave(blocksize)[:n]  # 원소마다 자기 블록의 absmax
    return (values * scales).to(dtype).reshape(shape)  # fp32로 곱한 뒤 dtype으로


# ----------------------------------------------------------------------------------------------------
# Double quantization (the absmax values themselves in 8 bits)
# ----------------------------------------------------------------------------------------------------


def dynamic_map() -> Tensor:
    """bitsandbytes' signed dynamic 8-bit map (256 sorted float32 values in [-0.993, 1]); not IEEE FP8.

    Values are a decade exponent 10^-6 … 10^0 times a linearly spaced fraction, so small magnitudes keep
    relative precision. It is the "8-bit float" of QLoRA's double quantization in bitsandbytes.
    """
    data: list[float] = []
    for i in range(7):  # decade 10^(i-6): 2^i linearly spaced fractions, both signs
        boundaries = torch.linspace(0.1, 1, 2**i + 1, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += (10.0 ** (i - 6) * means).tolist() + (-(10.0 ** (i - 6)) * means).tolist()
    return torch.tensor(sorted(data + [0.0, 1.0]), dtype=torch.float32)


@lru_cache(maxsize=1)
def _dynamic_lut() -> Tensor:
    """bitsandbytes 0.50 CPU 8-bit quantizer table: 65,536 even bins on [-1, 1] → nearest map index."""
    code = dynamic_map()
    centers = (2.0 * torch.arange(65536, dtype=torch.float32)) / 65535.0 - 1.0
    return torch.searchsorted((code[:-1] + code[1:]) * 0.5, centers).to(torch.uint8)  # midpoints strictly below


def quantize_blockwise_8bit(values: Tensor, blocksize: int = DQ_BLOCKSIZE) -> tuple[Tensor, Tensor]:
    """bitsandbytes 0.50's CPU ``quantize_blockwise`` of a float32 vector: ``(uint8 codes, absmax per block)``.

    It does not search :func:`dynamic_map`: v * (1/absmax), clamped to [-1, 1], picks one of 65,536 even bins by
    ``trunc(((v + 1) * 0.5) * 65535 + 0.5)`` in float32, and the bin's nearest map entry is the code.
    An all-zero block stores absmax 0 and codes 0.
    """
    n = values.numel()
    blocks = torch.cat([values, values.new_zeros(-n % blocksize)]).view(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = (blocks * torch.where(absmax > 0, 1.0 / absmax, 0.0)[:, None]).clamp(-1.0, 1.0)
    bins = ((scaled + 1.0) * 0.5) * 65535.0 + 0.5  # three float32 roundings, as the C++ (no fused multiply-add)
    codes = _dynamic_lut()[bins.to(torch.int64)]
    codes[absmax == 0] = 0
    return codes.reshape(-1)[:n], absmax


def double_quantize(absmax: Tensor, blocksize: int = DQ_BLOCKSIZE) -> tuple[Tensor, Tensor, Tensor]:
    """Quantize NF4 block maxima to 8 bits: returns ``(qabsmax uint8, absmax2 float32, offset float32)``.

    As QLoRA §3 and bitsandbytes ``quantize_4bit(..., compress_statistics=True)``: subtract the mean (absmax
    values are all positive), then blockwise 8-bit quantization with :func:`dynamic_map` in blocks of 256.
    Equal to bitsandbytes' ``state.absmax``, ``state.state2.absmax`` and ``state.offset``.

    Args:
        absmax (`torch.Tensor`): float32 first-level block maxima from the NF4 quantizer.
        blocksize (`int`): second-level blocksize. Defaults to 256.
    """
    if not isinstance(absmax, Tensor) or absmax.dtype != torch.float32:
        got = absmax.dtype if isinstance(absmax, Tensor) else type(absmax).__name__
        raise TypeError(f"absmax must be a float32 torch.Tensor; got {got}")
    validate.float_tensor(absmax, "absmax")
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    flat = absmax.reshape(-1)
    if not bool(torch.isfinite(flat).all()):
        raise ValueError("absmax must be finite: it contains NaN or inf")
    offset = flat.mean()  # absmax는 모두 양수: 평균을 빼서 0 주변으로
    qabsmax, absmax2 = quantize_blockwise_8bit(flat - offset, blocksize)  # 256개씩 8비트로
    return qabsmax, absmax2, offset


def dequantize_absmax(qabsmax: Tensor, absmax2: Tensor, offset: Tensor | float,
                      blocksize: int = DQ_BLOCKSIZE) -> Tensor:
    """Reconstruct the first-level absmax: ``map[q] * absmax2[block] + offset`` (float32)."""
    if not isinstance(qabsmax, Tensor) or qabsmax.dtype != torch.uint8:
        raise TypeError(f"qabsmax must be a uint8 torch.Tensor; got {getattr(qabsmax, 'dtype', type(qabsmax))}")
    if not isinstance(absmax2, Tensor) or absmax2.dtype != torch.float32:
        raise TypeError(f"absmax2 must be a float32 torch.Tensor; got {getattr(absmax2, 'dtype', type(absmax2))}")
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    n = qabsmax.numel()
    if absmax2.numel() != -(-n // blocksize):
        raise ValueError(f"absmax2 must hold ceil(len(qabsmax)/blocksize) = {-(-n // blocksize)} values; "
                         f"got {absmax2.numel()}")
    values = dynamic_map()[qabsmax.reshape(-1).long()]
    return values * absmax2.reshape(-1).repeat_interleave(blocksize)[:n] + offset


# ----------------------------------------------------------------------------------------------------
# Storage: bits per parameter and weight memory, from tensor sizes
# ----------------------------------------------------------------------------------------------------


def storage_bytes(n: int, blocksize: int = 64, double_quant: bool = False,
                  blocksize2: int = DQ_BLOCKSIZE) -> dict[str, int]:
    """Bytes of each stored tensor for `n` NF4 weights (the shapes the quantizer and DQ produce).

    Per-tensor constants (the DQ offset, the code tables) are left out, as in the paper's accounting.
    """
    validate.positive_int(n, "n")
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    n_blocks = -(-n // blocksize)
    parts = {"codes": -(-n // 2)}  # uint8, two codes per byte
    if double_quant:
        validate.int_choice(blocksize2, ALLOWED_BLOCKSIZES, "blocksize2")
        parts["absmax_uint8"] = n_blocks
        parts["absmax2_fp32"] = 4 * -(-n_blocks // blocksize2)
    else:
        parts["absmax_fp32"] = 4 * n_blocks
    parts["total"] = sum(parts.values())
    return parts


@lru_cache(maxsize=64)
def bits_per_parameter(blocksize: int = 64, double_quant: bool = False, blocksize2: int = DQ_BLOCKSIZE) -> float:
    """Stored bits per weight, measured on real tensors: quantize blocksize × blocksize2 Gaussian weights.

    ``numel × element_size`` of the packed codes plus the absmax (fp32), or with double quantization the 8-bit
    absmax codes plus the second-level fp32 absmax, divided by the number of weights. The per-tensor offset is
    excluded (as in QLoRA §3). blocksize 64: 4.5 without DQ, 4.126953125 with DQ.
    """
    validate.int_choice(blocksize, ALLOWED_BLOCKSIZES, "blocksize")
    validate.int_choice(blocksize2, ALLOWED_BLOCKSIZES, "blocksize2")
    n = blocksize * blocksize2
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    packed, absmax = quantize_nf4_reference(x, blocksize)
    tensors = [packed]
    if double_quant:
        qabsmax, absmax2, _offset = double_quantize(absmax, blocksize2)
        tensors += [qabsmax, absmax2]
    else:
        tensors.append(absmax)
    return 8 * sum(t.numel() * t.element_size() for t in tensors) / n


def weight_memory_bytes(n_params: int, fmt: str = "bf16", blocksize: int = 64) -> int:
    """Bytes to store `n_params` weights as ``"bf16"``, ``"nf4"`` or ``"nf4+dq"`` (blockwise, as bitsandbytes)."""
    validate.positive_int(n_params, "n_params")
    if fmt == "bf16":
        return 2 * n_params
    if fmt in ("nf4", "nf4+dq"):
        return storage_bytes(n_params, blocksize, double_quant=fmt == "nf4+dq")["total"]
    raise ValueError(f"fmt must be one of 'bf16', 'nf4', 'nf4+dq'; got {fmt!r}")


def memory_table(models: dict[str, int] | None = None, blocksize: int = 64):
    """pandas DataFrame: weight memory (GB = 10^9 bytes) of each model in bf16, NF4 and NF4+DQ."""
    import pandas as pd

    rows = []
    for name, n in (models or {"7B": 7 * 10**9, "65B": 65 * 10**9}).items():
        row = {"model": name, "params": n}
        for fmt in ("bf16", "nf4", "nf4+dq"):
            row[f"{fmt} GB"] = weight_memory_bytes(n, fmt, blocksize) / 10**9
        row["DQ saves GB"] = row["nf4 GB"] - row["nf4+dq GB"]
        rows.append(row)
    return pd.DataFrame(rows)
