"""NF4 from first principles: codebook, blockwise quantize/dequantize, double quantization, bits per parameter.

Everything here is checked bit for bit against bitsandbytes (``tests/test_nf4.py``):

* :func:`nf4_codebook` builds the 16 NF4 values from normal quantiles and equals
  ``bitsandbytes.functional.get_4bit_type("nf4")`` exactly.
* :func:`quantize_nf4_reference` (short, readable) and :func:`quantize_nf4` (fast) return the same packed
  bytes and absmax as ``bitsandbytes.functional.quantize_4bit(x, blocksize, quant_type="nf4")`` on CPU.
* :func:`double_quantize` returns what ``quantize_4bit(..., compress_statistics=True)`` stores
  (``state.absmax``, ``state.state2.absmax``, ``state.offset``).

The exactness rules of bitsandbytes 0.50.2's CPU kernel (facts sheet §3, each re-checked in the tests):
upcast to fp32 first; absmax is the exact max |x| of a block (fp32); full blocks are multiplied by the fp32
reciprocal ``1/absmax`` while the trailing partial block is divided by its absmax (and that absmax is clamped
to 1e-38 when the block is all zeros); the code is the number of fp32 midpoints strictly below the scaled
value (ties go to the lower code); the first element of a pair goes in the high nibble; an odd length is
padded with code 7 (the code of 0.0).
"""

from __future__ import annotations

import html
import math
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache

import ipywidgets as widgets
import torch
from torch import Tensor

__all__ = [
    "ALLOWED_BLOCKSIZES",
    "FORMATS",
    "NF4_OFFSET",
    "BlocksizeExplorer",
    "bits_per_parameter",
    "blocksize_explorer",
    "blocksize_study",
    "codebook_table",
    "dequantize_absmax",
    "dequantize_nf4",
    "dequantize_nf4_reference",
    "double_quant_error",
    "double_quantize",
    "dynamic_map",
    "error_study",
    "fake_quantize",
    "figure",
    "fp4_grid",
    "int4_grid",
    "memory_table",
    "nf4_codebook",
    "nf4_midpoints",
    "quantization_mse",
    "quantize_nf4",
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

FORMATS = ("nf4", "nf4+dq", "fp4", "int4")
"""4-bit formats compared in the error study (all blockwise absmax, same blocksize)."""

_FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_TAIL_ABSMAX_MIN = 1e-38  # bnb clamps the (partial-block) absmax to this before scaling
_HUGE = 2 << 20  # 2 MiB, the x86-64 huge page
_CHUNK = 1 << 17  # elements per step of the fast kernels: 128 Ki values, the work buffers stay in cache


# ----------------------------------------------------------------------------------------------------
# Input checks (clear errors naming the argument and what is allowed)
# ----------------------------------------------------------------------------------------------------


def _check_blocksize(blocksize: int, name: str = "blocksize") -> int:
    """Return `blocksize` if bitsandbytes allows it, else raise naming `name` and the allowed values."""
    if isinstance(blocksize, bool) or not isinstance(blocksize, int):
        raise TypeError(f"{name} must be an int, one of {ALLOWED_BLOCKSIZES}; got {blocksize!r}")
    if blocksize not in ALLOWED_BLOCKSIZES:
        raise ValueError(f"{name} must be one of {ALLOWED_BLOCKSIZES} (the sizes bitsandbytes allows); "
                         f"got {blocksize}")
    return blocksize


def _check_float_tensor(x: Tensor, name: str = "x") -> None:
    """Raise TypeError/ValueError unless `x` is a non-empty CPU float32/bfloat16/float16 tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32, bfloat16 or float16 (as bitsandbytes); got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must have at least one element; got an empty tensor of shape {tuple(x.shape)}")
    if x.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU (these kernels mirror bitsandbytes' CPU path); "
                         f"got device {x.device}")


def _raise_non_finite(flat: Tensor, name: str = "x") -> None:
    """Raise the ValueError for NaN/inf in `flat`, naming the first bad flat index."""
    bad = (~torch.isfinite(flat)).nonzero()
    where = f" (first at flat index {int(bad[0])})" if bad.numel() else ""
    raise ValueError(f"{name} must be finite: it contains NaN or inf{where}")


def _raise_if_not_finite(flat: Tensor, absmax: Tensor, name: str = "x") -> None:
    """NaN/inf anywhere in a block makes its absmax NaN/inf: a cheap check on the small absmax tensor."""
    if not bool(torch.isfinite(absmax).all()):
        _raise_non_finite(flat, name)


# ----------------------------------------------------------------------------------------------------
# The codebook and the comparison grids
# ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _nf4_codebook_cached(offset: float) -> Tensor:
    """Cached body of :func:`nf4_codebook`."""
    # Quantile levels exactly as bitsandbytes spaces them (float32 linspace), then the normal quantile
    # function Φ⁻¹ in float64 (what scipy.stats.norm.ppf computes), then one rounding to float32.
    p_pos = torch.linspace(offset, 0.5, 9, dtype=torch.float32)[:-1]  # 8 levels → 8 positive values
    p_neg = torch.linspace(offset, 0.5, 8, dtype=torch.float32)[:-1]  # 7 levels → 7 negative values
    positive = torch.special.ndtri(p_pos.double()).float()
    negative = -torch.special.ndtri(p_neg.double()).float()
    zero = torch.zeros(1, dtype=torch.float32)
    values = torch.cat([negative, zero, positive]).sort().values  # 7 negative, an exact 0, 8 positive
    return values / values.max()  # normalise to [-1, 1] (in float32, like bitsandbytes)


def nf4_codebook(offset: float = NF4_OFFSET) -> Tensor:
    """The 16 NF4 values (float32, sorted, -1 … 1) built from quantiles of N(0, 1).

    The construction is asymmetric so that 0 is exactly representable: 8 positive quantiles
    Φ⁻¹(p) for p evenly spaced from ``offset`` down to 0.5 (0.5 itself, i.e. 0, excluded), 7 negative ones
    from 8 levels, plus an exact 0; then everything is divided by the largest value.
    ``offset`` cannot be 1 (Φ⁻¹(1) = ∞); bitsandbytes uses 0.9677083 ≈ ½(29/30 + 31/32).

    Args:
        offset (`float`): outermost quantile level, in (0.5, 1). Defaults to bitsandbytes' 0.9677083.
    """
    if not isinstance(offset, (int, float)) or not 0.5 < offset < 1.0:
        raise ValueError(f"offset must be a float in (0.5, 1); got {offset!r}")
    return _nf4_codebook_cached(float(offset)).clone()


def nf4_midpoints() -> Tensor:
    """The 15 float32 decision boundaries (code[i] + code[i+1]) / 2; a value exactly on one gets the lower code."""
    code = nf4_codebook()
    return (code[:-1] + code[1:]) / 2


def codebook_table():
    """pandas DataFrame of the 16 NF4 codes: 4-bit pattern, value, and the normal quantile level p it came from.

    ``p = Φ(value · Φ⁻¹(offset))``: equally spaced in probability, from 1 - offset to 0.5 in 7 steps on the
    negative side and from 0.5 to offset in 8 steps on the positive side.
    """
    import pandas as pd

    code = nf4_codebook()
    z_max = torch.special.ndtri(torch.tensor(NF4_OFFSET, dtype=torch.float64))
    levels = torch.special.ndtr(code.double() * z_max)
    return pd.DataFrame({"code": range(16), "bits": [f"{i:04b}" for i in range(16)],
                         "value": code.tolist(), "quantile p": levels.tolist()})


def fp4_grid() -> Tensor:
    """bitsandbytes' FP4 (E2M1) values, sorted and normalised to [-1, 1] (±0 merged: 15 values).

    bitsandbytes decodes the 8 magnitudes of its E2M1 code as 0, 0.0625, 2, 3, 4, 6, 8, 12 (divided by 12);
    the standard OCP E2M1 subnormal would be 0.5 (of 6), bitsandbytes' is 0.0625 (of 12).
    """
    magnitudes = torch.tensor([0.0, 0.0625, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0], dtype=torch.float32) / 12.0
    return torch.cat([-magnitudes.flip(0)[:-1], magnitudes])


def int4_grid() -> Tensor:
    """Symmetric absmax INT4: the 15 levels k/7 for k = -7 … 7 (float32)."""
    return torch.arange(-7, 8, dtype=torch.float32) / 7.0


# ----------------------------------------------------------------------------------------------------
# Quantize: the readable reference version
# ----------------------------------------------------------------------------------------------------


def quantize_nf4_reference(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Blockwise NF4 quantization, written to be read: returns ``(packed uint8 (ceil(n/2), 1), absmax fp32)``.

    Bit-exact with ``bitsandbytes.functional.quantize_4bit(x, blocksize, quant_type="nf4")`` on CPU.

    Args:
        x (`torch.Tensor`): float32, bfloat16 or float16 weights, any shape (flattened row-major).
        blocksize (`int`): elements per block, one of :data:`ALLOWED_BLOCKSIZES`. Defaults to 64.
    """
    _check_float_tensor(x)
    _check_blocksize(blocksize)
    flat = x.reshape(-1).float()  # rule 1: upcast to fp32 before any arithmetic
    n = flat.numel()
    n_full = n - n % blocksize

    blocks = flat[:n_full].view(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)  # exact max |x| per block (stored unclamped)
    scale = 1.0 / absmax.clamp(min=_TAIL_ABSMAX_MIN)  # rule 2: fp32 reciprocal, then multiply
    scaled = [(blocks * scale[:, None]).reshape(-1)]
    absmaxes = [absmax]
    if n_full < n:  # trailing partial block: its own absmax, and TRUE DIVISION (bnb 0.50.2 CPU kernel)
        tail_absmax = flat[n_full:].abs().amax().clamp(min=_TAIL_ABSMAX_MIN)
        scaled.append(flat[n_full:] / tail_absmax)
        absmaxes.append(tail_absmax.reshape(1))
    absmax = torch.cat(absmaxes)
    _raise_if_not_finite(flat, absmax)
    scaled = torch.cat(scaled)
    if n % 2:  # odd length: pad with 0.0, which becomes code 7
        scaled = torch.cat([scaled, scaled.new_zeros(1)])

    # rule 3: code = number of fp32 midpoints strictly below the value → a tie goes to the lower code
    codes = torch.bucketize(scaled, nf4_midpoints(), right=False).to(torch.uint8)
    packed = (codes[0::2] << 4) | codes[1::2]  # rule 4: first element in the high nibble
    return packed.unsqueeze(1), absmax


# ----------------------------------------------------------------------------------------------------
# Quantize: the fast version (same bytes, several times faster than bitsandbytes' CPU kernel)
# ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _nf4_bucket_tables() -> tuple[Tensor, Tensor]:
    """Lookup tables over the top 16 bits of an fp32 value: lower code, and the midpoint to test (or +inf).

    All floats sharing their top 16 bits (sign, exponent, 7 mantissa bits) form one small interval.
    For 65,521 of the 65,536 intervals every member has the same NF4 code; each of the other 15 contains
    exactly one midpoint m, and a member s gets code ``lower + (s > m)``. So
    ``code = LUT[key] + (s > THRESHOLD[key])`` with THRESHOLD = +inf where no midpoint falls inside.
    """
    keys = torch.arange(-32768, 32768, dtype=torch.int32)
    lo = (keys << 16).view(torch.float32)
    hi = ((keys << 16) | 0xFFFF).view(torch.float32)
    mids = nf4_midpoints()
    finite = torch.isfinite(lo) & torch.isfinite(hi)
    c_lo = torch.bucketize(torch.where(finite, lo, 0.0), mids, right=False)
    c_hi = torch.bucketize(torch.where(finite, hi, 0.0), mids, right=False)
    lower = torch.minimum(c_lo, c_hi)
    ambiguous = c_lo != c_hi
    if bool(((c_lo - c_hi).abs() > 1).any()):  # pragma: no cover - would mean a bucket holds two midpoints
        raise AssertionError("an fp32 top-16-bit bucket contains two NF4 midpoints")
    threshold = torch.full((65536,), math.inf, dtype=torch.float32)
    threshold[ambiguous] = mids[lower[ambiguous]]
    return lower.to(torch.uint8), threshold


class _Scratch:
    """Per-thread work buffers for one chunk of the fast kernels (allocated once, reused: no page faults)."""

    def __init__(self, chunk: int, blocksize: int) -> None:
        self.scaled = torch.empty(chunk, dtype=torch.float32)
        self.diff = torch.empty(chunk, dtype=torch.float32)
        self.key = torch.empty(chunk, dtype=torch.int32)
        self.codes = torch.empty(chunk, dtype=torch.uint8)
        self.bump = torch.empty(chunk, dtype=torch.uint8)
        self.recip = torch.empty(chunk // blocksize, dtype=torch.float32)
        self.upcast = torch.empty(chunk, dtype=torch.float32)


def _quantize_full_blocks(flat: Tensor, blocksize: int, absmax: Tensor, packed: Tensor, start: int,
                          stop: int) -> None:
    """Quantize elements [start, stop) of `flat` (whole blocks) into `absmax` and `packed`, chunk by chunk."""
    lut, threshold = _nf4_bucket_tables()
    chunk = max(_CHUNK, blocksize)
    buf = _Scratch(chunk, blocksize)
    sign_byte = 3 if sys.byteorder == "little" else 0  # the fp32 byte that holds the sign bit
    for i in range(start, stop, chunk):
        j = min(i + chunk, stop)
        m = j - i
        x = flat[i:j]
        if x.dtype != torch.float32:  # rule 1: exact upcast of bf16/fp16 before any arithmetic
            x = buf.upcast[:m].copy_(x)
        x = x.view(-1, blocksize)
        s, d, key, q, bump = buf.scaled[:m], buf.diff[:m], buf.key[:m], buf.codes[:m], buf.bump[:m]
        am = absmax[i // blocksize:j // blocksize]
        r = buf.recip[:m // blocksize]
        torch.abs(x, out=s.view(-1, blocksize))
        torch.amax(s.view(-1, blocksize), dim=1, out=am)
        torch.clamp(am, min=_TAIL_ABSMAX_MIN, out=r)
        torch.reciprocal(r, out=r)  # == 1.0 / absmax in fp32
        torch.mul(x, r[:, None], out=s.view(-1, blocksize))
        torch.bitwise_right_shift(s.view(torch.int32), 16, out=key)  # top 16 bits, signed
        key.add_(32768)  # → table index 0 … 65535
        torch.index_select(lut, 0, key, out=q)
        torch.index_select(threshold, 0, key, out=d)
        torch.sub(d, s, out=d)  # negative exactly when s > threshold
        torch.bitwise_right_shift(d.view(torch.uint8)[sign_byte::4], 7, out=bump)  # its sign bit: 0 or 1
        q.add_(bump)
        torch.add(q[1::2], q[0::2], alpha=16, out=packed[i // 2:j // 2])  # high nibble first


_WORKERS: int | None = None  # threads for the fast kernels; None = torch's intra-op thread count
_threads_lock = threading.Lock()
_serial_depth = 0
_saved_threads = 1


@contextmanager
def _serial_torch_ops() -> Iterator[int]:
    """Make torch ops single-threaded inside (restored after); yield the thread count there was before.

    The fast kernels split the tensor among that many Python threads themselves: one torch op per chunk
    would otherwise open an OpenMP parallel region per call, which costs more than the op on a busy machine.
    """
    global _serial_depth, _saved_threads
    with _threads_lock:
        if _serial_depth == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _serial_depth += 1
        threads = _saved_threads
    try:
        yield threads
    finally:
        with _threads_lock:
            _serial_depth -= 1
            if _serial_depth == 0:
                torch.set_num_threads(_saved_threads)


def _run_chunked(kernel: Callable[[int, int], None], n_full: int, blocksize: int) -> None:
    """Call ``kernel(start, stop)`` over [0, n_full) split among threads in whole chunks (and whole blocks)."""
    unit = max(_CHUNK, blocksize)
    units = -(-n_full // unit)
    with _serial_torch_ops() as threads:
        workers = max(1, min(_WORKERS or threads, units))
        per = -(-units // workers) * unit
        ranges = [(a, min(a + per, n_full)) for a in range(0, n_full, per)]
        if len(ranges) == 1:
            kernel(*ranges[0])
            return
        with ThreadPoolExecutor(len(ranges)) as pool:  # torch releases the GIL inside each op
            for future in [pool.submit(kernel, a, b) for a, b in ranges]:
                future.result()


def _empty_large(n: int, dtype: torch.dtype) -> Tensor:
    """torch.empty(n) that asks Linux for transparent huge pages when large: fewer, cheaper page faults."""
    out = torch.empty(n, dtype=dtype)
    if out.nbytes >= _HUGE and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            start = (out.data_ptr() + _HUGE - 1) & ~(_HUGE - 1)
            stop = (out.data_ptr() + out.nbytes) & ~(_HUGE - 1)
            if stop > start:
                libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(stop - start), 14)  # MADV_HUGEPAGE
        except (OSError, AttributeError):  # pragma: no cover - not glibc: just a plain allocation
            pass
    return out


def quantize_nf4(x: Tensor, blocksize: int = 64) -> tuple[Tensor, Tensor]:
    """Fast blockwise NF4 quantization; same result as :func:`quantize_nf4_reference` and bitsandbytes.

    Works through the tensor in cache-sized chunks with preallocated buffers, finds each code with two
    table lookups on the top 16 bits of the scaled fp32 value (see ``_nf4_bucket_tables``) instead of a
    binary search, and packs pairs with one fused ``add(odd, even, alpha=16)``. Chunks are shared among
    ``torch.get_num_threads()`` Python threads (torch releases the GIL inside each op).

    Args:
        x (`torch.Tensor`): float32, bfloat16 or float16 weights, any shape (flattened row-major).
        blocksize (`int`): elements per block, one of :data:`ALLOWED_BLOCKSIZES`. Defaults to 64.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: packed codes, uint8 of shape ``(ceil(n/2), 1)``, and absmax,
        float32 of shape ``(ceil(n/blocksize),)``.
    """
    _check_float_tensor(x)
    _check_blocksize(blocksize)
    flat = x.reshape(-1)
    if not flat.is_contiguous():  # pragma: no cover - reshape(-1) of a tensor is contiguous or a copy
        flat = flat.contiguous()
    n = flat.numel()
    n_full = n - n % blocksize
    absmax = torch.empty(-(-n // blocksize), dtype=torch.float32)
    packed = torch.empty(-(-n // 2), dtype=torch.uint8)
    if n_full:
        _run_chunked(lambda a, b: _quantize_full_blocks(flat, blocksize, absmax, packed, a, b), n_full, blocksize)
    if n_full < n:  # the trailing partial block: the reference rules (true division), on < blocksize values
        if not bool(torch.isfinite(flat[n_full:]).all()):
            _raise_non_finite(flat)
        tail_packed, tail_absmax = quantize_nf4_reference(flat[n_full:], blocksize)
        packed[n_full // 2:] = tail_packed.reshape(-1)
        absmax[-1] = tail_absmax[0]
    _raise_if_not_finite(flat, absmax)
    return packed.unsqueeze(1), absmax


# ----------------------------------------------------------------------------------------------------
# Dequantize
# ----------------------------------------------------------------------------------------------------


def _check_dequant_args(packed: Tensor, absmax: Tensor, shape: tuple[int, ...] | torch.Size, blocksize: int,
                        dtype: torch.dtype) -> tuple[tuple[int, ...], int]:
    """Validate dequantize arguments; return the shape as a tuple and the element count."""
    _check_blocksize(blocksize)
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8:
        got = packed.dtype if isinstance(packed, Tensor) else type(packed).__name__
        raise TypeError(f"packed must be a uint8 torch.Tensor (two 4-bit codes per byte); got {got}")
    if not isinstance(absmax, Tensor) or absmax.dtype != torch.float32:
        got = absmax.dtype if isinstance(absmax, Tensor) else type(absmax).__name__
        raise TypeError(f"absmax must be a float32 torch.Tensor; got {got}")
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be torch.float32, torch.bfloat16 or torch.float16; got {dtype}")
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError as err:
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from err
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"shape must be a non-empty sequence of positive ints; got {shape}")
    n = math.prod(shape)
    if packed.numel() != -(-n // 2):
        raise ValueError(f"packed must hold ceil(n/2) = {-(-n // 2)} bytes for shape {shape}; "
                         f"got {packed.numel()}")
    if absmax.numel() != -(-n // blocksize):
        raise ValueError(f"absmax must hold ceil(n/blocksize) = {-(-n // blocksize)} values for shape {shape} "
                         f"and blocksize {blocksize}; got {absmax.numel()}")
    return shape, n


def unpack_nf4(packed: Tensor, n: int) -> Tensor:
    """The first `n` 4-bit codes of `packed` as uint8 (high nibble first)."""
    flat = packed.reshape(-1)
    return torch.stack([flat >> 4, flat & 0x0F], dim=1).reshape(-1)[:n]


def dequantize_nf4_reference(packed: Tensor, absmax: Tensor, shape: tuple[int, ...] | torch.Size,
                             blocksize: int = 64, dtype: torch.dtype = torch.float32) -> Tensor:
    """Readable dequantization: ``code[q] * absmax[block]`` in fp32, then cast to `dtype`."""
    shape, n = _check_dequant_args(packed, absmax, shape, blocksize, dtype)
    values = nf4_codebook()[unpack_nf4(packed, n).long()]
    scales = absmax.repeat_interleave(blocksize)[:n]
    return (values * scales).to(dtype).reshape(shape)


@lru_cache(maxsize=1)
def _byte_pairs() -> Tensor:
    """For each byte value, the NF4 values of its high and low nibble: a (256, 2) float32 table."""
    code = nf4_codebook()
    byte = torch.arange(256)
    return torch.stack([code[byte >> 4], code[byte & 0x0F]], dim=1).contiguous()


def _dequantize_full_blocks(packed: Tensor, absmax: Tensor, out: Tensor, blocksize: int, start: int,
                            stop: int) -> None:
    """Dequantize elements [start, stop) (whole blocks) of `packed` into `out`, chunk by chunk."""
    pairs = _byte_pairs().view(torch.int64).reshape(-1)  # one 8-byte entry per byte value: 1-D lookup
    chunk = max(_CHUNK, blocksize)
    key = torch.empty(chunk // 2, dtype=torch.int32)
    values = torch.empty(chunk, dtype=torch.float32)
    scaled = None if out.dtype == torch.float32 else torch.empty(chunk, dtype=torch.float32)
    for i in range(start, stop, chunk):
        j = min(i + chunk, stop)
        m = j - i
        k = key[:m // 2]
        k.copy_(packed[i // 2:j // 2])
        v = values[:m]
        torch.index_select(pairs, 0, k, out=v.view(torch.int64))  # code[high], code[low] per byte
        dest = out[i:j] if scaled is None else scaled[:m]
        torch.mul(v.view(-1, blocksize), absmax[i // blocksize:j // blocksize, None], out=dest.view(-1, blocksize))
        if scaled is not None:
            out[i:j].copy_(dest)  # fp32 → bf16/fp16, round to nearest even (as bitsandbytes)


def dequantize_nf4(packed: Tensor, absmax: Tensor, shape: tuple[int, ...] | torch.Size, blocksize: int = 64,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Fast dequantization: ``code[q] * absmax`` in fp32, cast to `dtype`, reshaped to `shape`.

    Equal to bitsandbytes' ``dequantize_4bit`` on CPU. Blocks run over the flattened tensor, as in bitsandbytes'
    quantizer and its pure-PyTorch kernel; bitsandbytes 0.50.2's AVX-512 CPU kernel instead looks absmax up per
    row, so when a block spans two rows (last dim not a multiple of blocksize) its output differs from ours.
    Each packed byte is looked up in a (256, 2) table of value pairs, then multiplied by its block's absmax.

    Args:
        packed (`torch.Tensor`): uint8 codes from :func:`quantize_nf4`, ``ceil(n/2)`` bytes.
        absmax (`torch.Tensor`): float32 block maxima, ``ceil(n/blocksize)`` values.
        shape (`tuple[int, ...]`): shape of the original tensor.
        blocksize (`int`): the blocksize used to quantize. Defaults to 64.
        dtype (`torch.dtype`): output dtype: float32, bfloat16 or float16. Defaults to float32.
    """
    shape, n = _check_dequant_args(packed, absmax, shape, blocksize, dtype)
    flat_packed = packed.reshape(-1)
    absmax = absmax.reshape(-1)
    out = _empty_large(n, dtype)
    n_full = n - n % blocksize
    if n_full:
        _run_chunked(lambda a, b: _dequantize_full_blocks(flat_packed, absmax, out, blocksize, a, b), n_full,
                     blocksize)
    if n_full < n:
        codes = unpack_nf4(flat_packed[n_full // 2:], n - n_full).long()
        out[n_full:] = (nf4_codebook()[codes] * absmax[-1]).to(dtype)
    return out.reshape(shape)


# ----------------------------------------------------------------------------------------------------
# Double quantization (the absmax values themselves in 8 bits)
# ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _dynamic_map_cached() -> Tensor:
    """Cached body of :func:`dynamic_map`."""
    max_exponent_bits, non_sign_bits = 7, 7
    data: list[float] = []
    for i in range(max_exponent_bits):  # decade 10^(i-6): 2^i linearly spaced fractions, both signs
        fraction_items = 2 ** (i + non_sign_bits - max_exponent_bits) + 1
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data += [0.0, 1.0]
    return torch.tensor(sorted(data), dtype=torch.float32)


def dynamic_map() -> Tensor:
    """bitsandbytes' signed dynamic 8-bit map (256 sorted float32 values in [-0.993, 1]); not IEEE FP8.

    Values are a decade exponent 10^-6 … 10^0 times a linearly spaced fraction, so small magnitudes keep
    relative precision. It is the "8-bit float" of QLoRA's double quantization in bitsandbytes.
    """
    return _dynamic_map_cached().clone()


@lru_cache(maxsize=1)
def _dynamic_lut() -> Tensor:
    """bitsandbytes 0.50.2 CPU 8-bit quantizer table: 65,536 even bins on [-1, 1] → nearest map index."""
    code = _dynamic_map_cached()
    mids = (code[:-1] + code[1:]) * 0.5
    i = torch.arange(65536, dtype=torch.float32)
    centers = (2.0 * i) / 65535.0 - 1.0
    return torch.searchsorted(mids, centers, right=False).to(torch.uint8)  # midpoints strictly below


def _quantize_blockwise_8bit(values: Tensor, blocksize: int) -> tuple[Tensor, Tensor]:
    """The CPU ``quantize_blockwise`` of bitsandbytes 0.50.2 for a float32 vector.

    It does not search the map: v * (1/absmax) is clamped to [-1, 1], mapped to one of 65,536 even bins by
    ``trunc(((v + 1) * 0.5) * 65535 + 0.5)`` in float32, and the bin's precomputed nearest map entry is the code.
    An all-zero block stores absmax 0 and codes 0.
    """
    n = values.numel()
    pad = -n % blocksize
    blocks = torch.cat([values, values.new_zeros(pad)]).view(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    inv = torch.where(absmax > 0, 1.0 / absmax, 0.0)
    t = (blocks * inv[:, None]).clamp(-1.0, 1.0)
    t = ((t + 1.0) * 0.5) * 65535.0 + 0.5  # three float32 roundings, as the C++ (no fused multiply-add)
    codes = _dynamic_lut()[t.to(torch.int64)]
    codes[absmax == 0] = 0
    return codes.reshape(-1)[:n], absmax


def double_quantize(absmax: Tensor, blocksize: int = DQ_BLOCKSIZE) -> tuple[Tensor, Tensor, Tensor]:
    """Quantize NF4 block maxima to 8 bits: returns ``(qabsmax uint8, absmax2 float32, offset float32)``.

    As QLoRA §3 and bitsandbytes ``quantize_4bit(..., compress_statistics=True)``: subtract the mean
    (absmax values are all positive), then blockwise 8-bit quantization with :func:`dynamic_map` in blocks of
    `blocksize` (256). Equal to bitsandbytes' ``state.absmax``, ``state.state2.absmax`` and ``state.offset``.

    Args:
        absmax (`torch.Tensor`): float32 first-level block maxima from :func:`quantize_nf4`.
        blocksize (`int`): second-level blocksize. Defaults to 256.
    """
    if not isinstance(absmax, Tensor) or absmax.dtype != torch.float32:
        got = absmax.dtype if isinstance(absmax, Tensor) else type(absmax).__name__
        raise TypeError(f"absmax must be a float32 torch.Tensor; got {got}")
    if absmax.numel() == 0:
        raise ValueError("absmax must have at least one element; got an empty tensor")
    _check_blocksize(blocksize)
    flat = absmax.reshape(-1)
    if not bool(torch.isfinite(flat).all()):
        raise ValueError("absmax must be finite: it contains NaN or inf")
    offset = flat.mean()
    qabsmax, absmax2 = _quantize_blockwise_8bit(flat - offset, blocksize)
    return qabsmax, absmax2, offset


def dequantize_absmax(qabsmax: Tensor, absmax2: Tensor, offset: Tensor | float,
                      blocksize: int = DQ_BLOCKSIZE) -> Tensor:
    """Reconstruct the first-level absmax: ``map[q] * absmax2[block] + offset`` (float32)."""
    if not isinstance(qabsmax, Tensor) or qabsmax.dtype != torch.uint8:
        raise TypeError(f"qabsmax must be a uint8 torch.Tensor; got {getattr(qabsmax, 'dtype', type(qabsmax))}")
    if not isinstance(absmax2, Tensor) or absmax2.dtype != torch.float32:
        raise TypeError(f"absmax2 must be a float32 torch.Tensor; got {getattr(absmax2, 'dtype', type(absmax2))}")
    _check_blocksize(blocksize)
    n = qabsmax.numel()
    if absmax2.numel() != -(-n // blocksize):
        raise ValueError(f"absmax2 must hold ceil(len(qabsmax)/blocksize) = {-(-n // blocksize)} values; "
                         f"got {absmax2.numel()}")
    values = _dynamic_map_cached()[qabsmax.reshape(-1).long()]
    return values * absmax2.repeat_interleave(blocksize)[:n] + offset


# ----------------------------------------------------------------------------------------------------
# Storage: bits per parameter and weight memory, from tensor sizes
# ----------------------------------------------------------------------------------------------------


def storage_bytes(n: int, blocksize: int = 64, double_quant: bool = False,
                  blocksize2: int = DQ_BLOCKSIZE) -> dict[str, int]:
    """Bytes of each stored tensor for `n` NF4 weights (the shapes :func:`quantize_nf4` and DQ produce).

    Per-tensor constants (the DQ offset, the code tables) are left out, as in the paper's accounting.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive int; got {n!r}")
    _check_blocksize(blocksize)
    n_blocks = -(-n // blocksize)
    parts = {"codes": -(-n // 2)}  # uint8, two codes per byte
    if double_quant:
        _check_blocksize(blocksize2, "blocksize2")
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
    _check_blocksize(blocksize)
    _check_blocksize(blocksize2, "blocksize2")
    n = blocksize * blocksize2
    x = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    packed, absmax = quantize_nf4(x, blocksize)
    tensors = [packed]
    if double_quant:
        qabsmax, absmax2, _offset = double_quantize(absmax, blocksize2)
        tensors += [qabsmax, absmax2]
    else:
        tensors.append(absmax)
    return 8 * sum(t.numel() * t.element_size() for t in tensors) / n


def weight_memory_bytes(n_params: int, fmt: str = "bf16", blocksize: int = 64) -> int:
    """Bytes to store `n_params` weights as ``"bf16"``, ``"nf4"`` or ``"nf4+dq"`` (blockwise, as bitsandbytes)."""
    if isinstance(n_params, bool) or not isinstance(n_params, int) or n_params <= 0:
        raise ValueError(f"n_params must be a positive int; got {n_params!r}")
    if fmt == "bf16":
        return 2 * n_params
    if fmt in ("nf4", "nf4+dq"):
        return storage_bytes(n_params, blocksize, double_quant=fmt == "nf4+dq")["total"]
    raise ValueError(f"fmt must be one of 'bf16', 'nf4', 'nf4+dq'; got {fmt!r}")


def memory_table(models: dict[str, int] | None = None, blocksize: int = 64):
    """pandas DataFrame: weight memory (GB = 10^9 bytes) of each model in bf16, NF4 and NF4+DQ."""
    import pandas as pd

    models = models or {"7B": 7 * 10**9, "65B": 65 * 10**9}
    rows = []
    for name, n in models.items():
        row = {"model": name, "params": n}
        for fmt in ("bf16", "nf4", "nf4+dq"):
            row[f"{fmt} GB"] = weight_memory_bytes(n, fmt, blocksize) / 10**9
        row["DQ saves GB"] = row["nf4 GB"] - row["nf4+dq GB"]
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------
# Error study: NF4 vs FP4 vs INT4, blocksize, and what double quantization adds
# ----------------------------------------------------------------------------------------------------


def _grid_fake_quantize(x: Tensor, grid: Tensor, blocksize: int) -> Tensor:
    """Blockwise absmax + nearest grid value (ties to the lower value), with bitsandbytes' scaling rules."""
    flat = x.reshape(-1).float()
    n = flat.numel()
    n_full = n - n % blocksize
    absmax = torch.empty(-(-n // blocksize), dtype=torch.float32)
    scaled = torch.empty(n, dtype=torch.float32)
    if n_full:
        blocks = flat[:n_full].view(-1, blocksize)
        absmax[: n_full // blocksize] = blocks.abs().amax(dim=1)
        scale = 1.0 / absmax[: n_full // blocksize].clamp(min=_TAIL_ABSMAX_MIN)
        scaled[:n_full] = (blocks * scale[:, None]).reshape(-1)
    if n_full < n:
        absmax[-1] = flat[n_full:].abs().amax().clamp(min=_TAIL_ABSMAX_MIN)
        scaled[n_full:] = flat[n_full:] / absmax[-1]
    _raise_if_not_finite(flat, absmax)
    mids = (grid[:-1] + grid[1:]) / 2
    values = grid[torch.bucketize(scaled, mids, right=False)]
    return (values * absmax.repeat_interleave(blocksize)[:n]).reshape(x.shape)


def fake_quantize(x: Tensor, fmt: str = "nf4", blocksize: int = 64) -> Tensor:
    """Quantize then dequantize `x` (float32 result, same shape) in one of :data:`FORMATS`.

    ``"nf4"`` and ``"nf4+dq"`` use :func:`quantize_nf4` (+ :func:`double_quantize`); ``"fp4"`` and ``"int4"``
    round each absmax-scaled value to the nearest point of :func:`fp4_grid` / :func:`int4_grid`.
    """
    _check_float_tensor(x)
    _check_blocksize(blocksize)
    if fmt == "nf4" or fmt == "nf4+dq":
        packed, absmax = quantize_nf4(x, blocksize)
        if fmt == "nf4+dq":
            absmax = dequantize_absmax(*double_quantize(absmax))
        return dequantize_nf4(packed, absmax, x.shape, blocksize)
    if fmt == "fp4":
        return _grid_fake_quantize(x, fp4_grid(), blocksize)
    if fmt == "int4":
        return _grid_fake_quantize(x, int4_grid(), blocksize)
    raise ValueError(f"fmt must be one of {FORMATS}; got {fmt!r}")


def quantization_mse(x: Tensor, fmt: str = "nf4", blocksize: int = 64) -> float:
    """Mean squared error between `x` and its 4-bit round trip in format `fmt` (see :func:`fake_quantize`)."""
    y = fake_quantize(x, fmt, blocksize)
    return float(((y - x.float()) ** 2).mean())


def error_study(tensors: dict[str, Tensor], formats: tuple[str, ...] = FORMATS, blocksize: int = 64,
                progress: bool = False):
    """pandas DataFrame: MSE of each format on each named tensor, plus MSE relative to NF4.

    Args:
        tensors (`dict[str, torch.Tensor]`): name → weights (float32/bfloat16/float16).
        formats (`tuple[str, ...]`): formats from :data:`FORMATS`. Defaults to all four.
        blocksize (`int`): blocksize for every format. Defaults to 64.
        progress (`bool`): show a ``tqdm.auto`` progress bar over the tensors. Defaults to False.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    rows = []
    for name, x in tqdm(tensors.items(), desc="error study", disable=not progress):
        x = x.detach()
        mse = {fmt: quantization_mse(x, fmt, blocksize) for fmt in formats}
        for fmt in formats:
            row = {"tensor": name, "format": fmt, "mse": mse[fmt]}
            if "nf4" in mse:
                row["mse / nf4"] = mse[fmt] / mse["nf4"]
            rows.append(row)
    return pd.DataFrame(rows)


def blocksize_study(x: Tensor, blocksizes: tuple[int, ...] = ALLOWED_BLOCKSIZES,
                    formats: tuple[str, ...] = ("nf4", "nf4+dq")):
    """pandas DataFrame: for each blocksize and format, bits per parameter and MSE on `x`."""
    import pandas as pd

    rows = []
    for bs in blocksizes:
        for fmt in formats:
            dq = fmt == "nf4+dq"
            bits = bits_per_parameter(bs, dq) if fmt.startswith("nf4") else bits_per_parameter(bs, False)
            rows.append({"blocksize": bs, "format": fmt, "bits/param": bits,
                         "mse": quantization_mse(x, fmt, bs)})
    return pd.DataFrame(rows)


def double_quant_error(x: Tensor, blocksize: int = 64) -> dict[str, float]:
    """What double quantization costs on `x`: absmax relative error and the weight MSE with and without DQ."""
    _check_float_tensor(x)
    packed, absmax = quantize_nf4(x, blocksize)
    absmax_dq = dequantize_absmax(*double_quantize(absmax))
    rel = (absmax_dq - absmax).abs() / absmax.clamp(min=_TAIL_ABSMAX_MIN)
    xf = x.float()
    y = dequantize_nf4(packed, absmax, x.shape, blocksize)
    y_dq = dequantize_nf4(packed, absmax_dq, x.shape, blocksize)
    mse, mse_dq = float(((y - xf) ** 2).mean()), float(((y_dq - xf) ** 2).mean())
    return {"absmax max rel. error": float(rel.max()), "absmax mean rel. error": float(rel.mean()),
            "mse nf4": mse, "mse nf4+dq": mse_dq, "mse increase %": 100 * (mse_dq - mse) / mse}


# ----------------------------------------------------------------------------------------------------
# Widget: blocksize → bits per parameter and error
# ----------------------------------------------------------------------------------------------------


class BlocksizeExplorer(widgets.VBox):
    """Blocksize dropdown and double-quant checkbox with a live readout of bits/param and error.

    Child widgets are attributes so tests can drive it from Python: ``blocksize`` (``Dropdown``),
    ``double_quant`` (``Checkbox``), ``readout`` and ``table`` (``HTML``). ``state`` holds the last numbers.

    Args:
        x (`torch.Tensor`, *optional*): weights to measure the error on. Defaults to 65,536 N(0, 1) values.
        blocksize (`int`): initial blocksize. Defaults to 64.
        double_quant (`bool`): initial double-quant setting. Defaults to True.
    """

    def __init__(self, x: Tensor | None = None, blocksize: int = 64, double_quant: bool = True) -> None:
        _check_blocksize(blocksize)
        if x is None:
            x = torch.randn(65536, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
        _check_float_tensor(x)
        self.x = x.detach()
        self._mse: dict[tuple[int, bool], float] = {}
        self.blocksize = widgets.Dropdown(options=list(ALLOWED_BLOCKSIZES), value=blocksize,
                                          description="blocksize")
        self.double_quant = widgets.Checkbox(value=double_quant, description="이중 양자화 (DQ)", indent=False)
        self.readout = widgets.HTML()
        self.table = widgets.HTML()
        self.state: dict = {}
        for w in (self.blocksize, self.double_quant):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HTML("<b>NF4 blocksize 탐색기</b>"),
                          widgets.HBox([self.blocksize, self.double_quant]), self.readout, self.table])
        self.update()

    def _on_change(self, change: dict) -> None:
        """Observer: recompute on any change."""
        self.update()

    def mse(self, blocksize: int, double_quant: bool) -> float:
        """MSE of the NF4 (+DQ) round trip of ``x`` at this blocksize (cached)."""
        key = (blocksize, double_quant)
        if key not in self._mse:
            self._mse[key] = quantization_mse(self.x, "nf4+dq" if double_quant else "nf4", blocksize)
        return self._mse[key]

    def update(self) -> None:
        """Recompute bits/param and error; redraw ``readout`` and ``table``."""
        bs, dq = self.blocksize.value, bool(self.double_quant.value)
        bits = bits_per_parameter(bs, dq)
        overhead = bits - 4
        self.state = {"blocksize": bs, "double_quant": dq, "bits": bits, "overhead": overhead,
                      "mse": self.mse(bs, dq)}
        self.readout.value = (f"<b>blocksize {bs}{' + DQ' if dq else ''}: "
                              f"{bits:.6g} bits/param</b> "
                              f"(4비트 코드 + 스케일 {overhead:.6g}비트) · MSE {self.state['mse']:.4g}")
        rows = []
        for b in ALLOWED_BLOCKSIZES:
            mark = " style='font-weight:bold'" if b == bs else ""
            rows.append(f"<tr{mark}><td>{b}</td><td>{bits_per_parameter(b, dq):.6g}</td>"
                        f"<td>{self.mse(b, dq):.4g}</td></tr>")
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>"
                       for c in ("blocksize", "bits/param", "MSE"))
        self.table.value = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def blocksize_explorer(x: Tensor | None = None, **kwargs) -> BlocksizeExplorer:
    """A blocksize dropdown (32 … 4096) and DQ checkbox showing bits/param and MSE on `x` live."""
    return BlocksizeExplorer(x, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Figure for figs/
# ----------------------------------------------------------------------------------------------------


def figure():
    """NF4 codebook against the N(0, 1) density, with the FP4 (E2M1) and INT4 grids beside it (figs/)."""
    from matplotlib.figure import Figure

    try:
        from .plots import setup_korean_font

        setup_korean_font()
        korean = True
    except (ImportError, FileNotFoundError):
        korean = False
    text = {
        "title": "NF4 codebook: 16 values from normal quantiles",
        "density": "N(0,1) density (x scaled to the NF4 range)",
        "x": "normalised value (x / block absmax)",
        "grids": "same 4 bits, different grids",
        "y": "density",
    }
    if korean:
        text = {
            "title": "NF4 코드북: 정규분포 분위수로 만든 16개 값",
            "density": "N(0,1) 밀도 (x축을 NF4 범위로 맞춤)",
            "x": "정규화된 값 (블록 absmax로 나눈 값)",
            "grids": "같은 4비트, 다른 격자",
            "y": "밀도",
        }
    code = nf4_codebook()
    z_max = float(torch.special.ndtri(torch.tensor(NF4_OFFSET, dtype=torch.float64)))
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[2.2, 1], sharex=True)
    u = torch.linspace(-1.05, 1.05, 401, dtype=torch.float64)
    z = u * z_max
    density = torch.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
    top.plot(u, density, color="#4C72B0", label=text["density"])
    for i, c in enumerate(code.tolist()):
        top.axvline(c, color="#C44E52", lw=0.8, alpha=0.7)
        top.annotate(str(i), (c, 0.415), ha="center", fontsize=7, color="#C44E52")
    for m in nf4_midpoints().tolist():
        top.axvline(m, color="0.6", lw=0.6, ls=":")
    top.set_ylim(0, 0.44)
    top.set_ylabel(text["y"])
    top.set_title(text["title"])
    top.legend(loc="lower center", fontsize=8)
    grids = {"NF4": code, "FP4 (E2M1)": fp4_grid(), "INT4": int4_grid()}
    colors = {"NF4": "#C44E52", "FP4 (E2M1)": "#55A868", "INT4": "#8172B2"}
    for row, (name, grid) in enumerate(grids.items()):
        bottom.scatter(grid, [row] * grid.numel(), s=28, color=colors[name], zorder=3)
        bottom.hlines(row, -1, 1, color="0.85", lw=1)
    bottom.set_yticks(range(len(grids)), list(grids))
    bottom.set_ylim(-0.6, len(grids) - 0.4)
    bottom.invert_yaxis()
    bottom.set_xlabel(text["x"])
    bottom.set_title(text["grids"], fontsize=9)
    return fig
