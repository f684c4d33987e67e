"""Fast NF4 quantize / dequantize: the same bytes as :func:`course_utils.quant.nf4.quantize_nf4_reference` (and so
as bitsandbytes' CPU kernels), several times faster on large tensors. ``benchmarks/nf4.py`` times both against
bitsandbytes; ``tests/test_nf4.py`` checks fast == reference == bitsandbytes.

Two ideas make it fast, and nothing else is needed:

* **No binary search.** The reference finds a code with ``torch.bucketize`` over the 15 midpoints. Here the top
  16 bits of the scaled fp32 value index a 65,536-entry table of codes (:func:`bucket_tables`); only 15 of those
  buckets contain a midpoint, and for them one comparison with that midpoint decides.
* **Chunks of whole blocks.** The tensor is processed 262,144 values at a time: large enough that each torch op
  spreads over torch's threads, small enough that the temporaries stay around a megabyte instead of being
  tensor-sized buffers (a fresh buffer costs a page fault per 4 KiB on first touch).

Dequantize cannot beat bitsandbytes on the CPU this simply: both must allocate and write the fp32 output, and on a
4096×4096 tensor that first touch alone costs about as much as bitsandbytes' whole call (``benchmarks/nf4.py``
prints this floor). Going below it needs huge pages (``madvise``), which the course keeps out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from course_utils.quant import nf4
from course_utils.runtime import validate

__all__ = ["CHUNK", "bucket_tables", "byte_pair_table", "dequantize_nf4", "quantize_nf4"]

CHUNK = 1 << 18
"""Values per step: a multiple of every allowed blocksize (32 … 4096), so a chunk holds whole blocks."""


@lru_cache(maxsize=1)
def bucket_tables() -> tuple[Tensor, Tensor]:
    """Code lookup over the top 16 bits of a float32: ``(lower code uint8, threshold float32)``, 65,536 each.

    Floats that share their top 16 bits (sign, exponent, 7 mantissa bits) form one small interval, a bucket.
    Index ``key = (bits >> 16) + 32768``. A value ``s`` in bucket ``key`` has code
    ``lower[key] + (s > threshold[key])``: the threshold is the one midpoint inside the bucket, or +inf.
    """
    keys = torch.arange(-32768, 32768, dtype=torch.int32)
    low = (keys << 16).view(torch.float32)  # 버킷의 한쪽 끝 (아래 16비트가 모두 0)
    high = ((keys << 16) | 0xFFFF).view(torch.float32)  # 다른 쪽 끝 (아래 16비트가 모두 1)
    finite = torch.isfinite(low) & torch.isfinite(high)  # inf/NaN 버킷은 쓰이지 않는다 (입력은 유한)
    mids = nf4.nf4_midpoints()
    code_low = torch.bucketize(torch.where(finite, low, 0.0), mids)
    code_high = torch.bucketize(torch.where(finite, high, 0.0), mids)
    lower = torch.minimum(code_low, code_high)
    split = code_low != code_high  # 중점이 버킷 안에 있다: 15개뿐
    threshold = torch.full((65536,), math.inf)
    threshold[split] = mids[lower[split]]
    return lower.to(torch.uint8), threshold


def quantize_nf4(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Fast blockwise NF4 quantization; the same packed bytes and absmax as :func:`nf4.quantize_nf4_reference`.

    Args:
        x (`torch.Tensor`): float32, bfloat16 or float16 weights, any shape (flattened row-major).
        blocksize (`int`): elements per block, one of ``nf4.ALLOWED_BLOCKSIZES``. Defaults to 64.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: packed codes, uint8 of shape ``(ceil(n/2), 1)``, and absmax,
        float32 of shape ``(ceil(n/blocksize),)``.
    """
    validate.float_tensor(x)
    validate.int_choice(blocksize, nf4.ALLOWED_BLOCKSIZES, "blocksize")
    flat = x.reshape(-1)
    n = flat.numel()
    n_full = n - n % blocksize
    packed = torch.empty(-(-n // 2), dtype=torch.uint8)
    absmax = torch.empty(-(-n // blocksize), dtype=torch.float32)
    lower, threshold = bucket_tables()
    chunks = zip(flat[:n_full].view(-1, blocksize).split(CHUNK // blocksize),
                 absmax[:n_full // blocksize].split(CHUNK // blocksize), packed[:n_full // 2].split(CHUNK // 2))
    for blocks, block_max, out in chunks:  # whole blocks, CHUNK values at a time (the reference's rules)
        blocks = blocks.float()
        torch.amax(blocks.abs(), dim=1, out=block_max)
        scaled = (blocks * (1.0 / block_max.clamp(min=1e-38))[:, None]).view(-1)
        key = (scaled.view(torch.int32) >> 16).add_(32768)  # top 16 bits of each float → 0 … 65535
        codes = torch.index_select(lower, 0, key)
        codes += scaled > torch.index_select(threshold, 0, key)  # +1 above the midpoint inside the bucket
        torch.add(codes[1::2], codes[0::2], alpha=16, out=out)  # first value in the high nibble
    # a NaN/inf makes its block's absmax NaN/inf; the reference then raises the error naming the first one
    if not (bool(torch.isfinite(absmax[:n_full // blocksize]).all()) and bool(torch.isfinite(flat[n_full:]).all())):
        nf4.blockwise_absmax(x, blocksize)
    if n_full < n:  # the trailing partial block (fewer than blocksize values): the reference itself
        tail_packed, tail_absmax = nf4.quantize_nf4_reference(flat[n_full:], blocksize)
        packed[n_full // 2:] = tail_packed.reshape(-1)
        absmax[-1:] = tail_absmax
    return packed.unsqueeze(1), absmax


@lru_cache(maxsize=1)
def byte_pair_table() -> Tensor:
    """For each byte value, its high- and low-nibble NF4 values side by side, viewed as one int64 per byte.

    One ``index_select`` with the packed bytes then yields two float32 values per byte, in order.
    """
    code = nf4.nf4_codebook()
    byte = torch.arange(256)
    return torch.stack([code[byte >> 4], code[byte & 0x0F]], dim=1).contiguous().view(torch.int64).reshape(-1)


def dequantize_nf4(packed: Tensor, absmax: Tensor, shape: Sequence[int], blocksize: int = 64,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Fast dequantization; equal to :func:`nf4.dequantize_nf4_reference` and bitsandbytes' ``dequantize_4bit``.

    Args:
        packed (`torch.Tensor`): uint8 codes from :func:`quantize_nf4`, ``ceil(n/2)`` bytes.
        absmax (`torch.Tensor`): float32 block maxima, ``ceil(n/blocksize)`` values.
        shape (`tuple[int, ...]`): shape of the original tensor.
        blocksize (`int`): the blocksize used to quantize. Defaults to 64.
        dtype (`torch.dtype`): output dtype: float32, bfloat16 or float16. Defaults to float32.
    """
    shape, n = nf4.check_packed(packed, absmax, shape, blocksize, dtype)
    packed, absmax = packed.reshape(-1), absmax.reshape(-1)
    out = torch.empty(n, dtype=dtype)
    n_full = n - n % blocksize
    pairs = byte_pair_table()
    chunks = zip(packed[:n_full // 2].split(CHUNK // 2), absmax[:n_full // blocksize, None].split(CHUNK // blocksize),
                 out[:n_full].view(-1, blocksize).split(CHUNK // blocksize))
    for codes, block_max, dest in chunks:  # whole blocks, CHUNK values at a time
        values = torch.index_select(pairs, 0, codes.int()).view(torch.float32)  # byte → its two NF4 values
        torch.mul(values.view(-1, blocksize), block_max, out=dest)  # fp32 product, rounded once to out's dtype
    if n_full < n:  # the trailing partial block: the reference
        tail = nf4.unpack_nf4(packed[n_full // 2:], n - n_full)  # n_full is even: the tail starts on a byte
        out[n_full:] = nf4.nf4_codebook()[tail.long()] * absmax[-1]
    return out.reshape(shape)
