"""course_utils.quant.nf4 (reference) and nf4_fast against bitsandbytes, bit for bit: codebook, quantize, dequantize,
double quantization; and the studies of course_utils.quant.quant_study."""

from __future__ import annotations

import io
import math

import bitsandbytes.functional as F
import pytest
import torch
from bitsandbytes.backends.default import ops as bnb_default_ops

from course_utils.quant import nf4, nf4_fast, quant_study

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
QUANTIZERS = [nf4.quantize_nf4_reference, nf4_fast.quantize_nf4]
DEQUANTIZERS = [nf4.dequantize_nf4_reference, nf4_fast.dequantize_nf4]


def bnb_quantize(x: torch.Tensor, blocksize: int = 64, **kwargs):
    """bitsandbytes' NF4 quantize_4bit (quant_type must be passed: its default is fp4)."""
    return F.quantize_4bit(x, blocksize=blocksize, quant_type="nf4", **kwargs)


def bnb_default_dequantize(packed: torch.Tensor, absmax: torch.Tensor, shape, blocksize: int,
                           dtype: torch.dtype, quant_type: str = "nf4") -> torch.Tensor:
    """bitsandbytes' pure-PyTorch dequantize kernel, run eagerly (its torch.compile wrapper takes ~25 s)."""
    code = F.get_4bit_type(quant_type, device="cpu")
    compute = bnb_default_ops._dequantize_4bit_compute
    compute = getattr(compute, "__wrapped__", compute)
    return compute(packed.reshape(-1), absmax, code, blocksize, tuple(shape), dtype).reshape(shape)


def random_cases(seed: int, count: int):
    """(shape, blocksize) pairs: 1-D/2-D/3-D, odd lengths, trailing partial blocks, every allowed blocksize."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for i in range(count):
        blocksize = nf4.ALLOWED_BLOCKSIZES[i % len(nf4.ALLOWED_BLOCKSIZES)]
        kind = i % 3
        if kind == 0:
            shape = (int(torch.randint(1, 3 * blocksize, (1,), generator=g)),)
        elif kind == 1:
            shape = tuple(int(v) for v in torch.randint(1, 90, (2,), generator=g))
        else:
            shape = tuple(int(v) for v in torch.randint(1, 20, (3,), generator=g))
        cases.append((shape, blocksize))
    return cases


def random_tensor(shape, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Gaussian weights with a random scale (so absmax spans several orders of magnitude across cases)."""
    g = torch.Generator().manual_seed(seed)
    scale = 10 ** float(torch.empty(1).uniform_(-3, 2, generator=g))
    return (torch.randn(shape, generator=g) * scale).to(dtype)


# ----------------------------------------------------------------------------------------------------
# Codebook and grids
# ----------------------------------------------------------------------------------------------------


def test_codebook_equals_bitsandbytes_exactly():
    code = nf4.nf4_codebook()
    assert code.dtype == torch.float32 and code.shape == (16,)
    assert torch.equal(code, F.get_4bit_type("nf4", device="cpu"))
    assert torch.equal(code, torch.unique(F.create_normal_map()))  # bnb's own construction, 241 zeros merged


def test_codebook_is_asymmetric_with_exact_zero():
    code = nf4.nf4_codebook()
    assert bool((code[1:] > code[:-1]).all())
    assert code[0] == -1.0 and code[15] == 1.0 and code[7] == 0.0
    assert int((code < 0).sum()) == 7 and int((code > 0).sum()) == 8
    assert nf4.NF4_OFFSET == pytest.approx(0.5 * (29 / 30 + 31 / 32), abs=1e-7)


def test_codebook_values_are_scaled_normal_quantiles():
    code = nf4.nf4_codebook().double()
    levels = torch.linspace(nf4.NF4_OFFSET, 0.5, 9)[:-1].double()
    expected = torch.special.ndtri(levels) / torch.special.ndtri(levels[0])
    assert torch.allclose(code[8:].flip(0), expected, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="offset"):
        nf4.nf4_codebook(offset=1.0)


def test_codebook_table_quantile_levels_are_evenly_spaced():
    table = nf4.codebook_table()
    assert list(table.columns) == ["code", "bits", "value", "quantile p"]
    assert table["bits"].iloc[15] == "1111"
    steps = torch.tensor(table["quantile p"].tolist()).diff()
    assert torch.allclose(steps[:7], torch.full((7,), (nf4.NF4_OFFSET - 0.5) / 7), atol=1e-7)
    assert torch.allclose(steps[7:], torch.full((8,), (nf4.NF4_OFFSET - 0.5) / 8), atol=1e-7)


def test_midpoints_equal_cuda_thresholds():
    # the decision-tree pivots of dQuantizeNF4 in bitsandbytes' csrc/kernels.cu, sorted
    cuda = torch.tensor(sorted([
        0.03979014977812767, 0.3893125355243683, -0.33967943489551544, -0.6106329262256622,
        -0.13791173323988914, 0.2035212516784668, 0.6427869200706482, -0.8480964004993439,
        -0.4599952697753906, -0.23460740596055984, -0.045525018125772476, 0.1202552504837513,
        0.2920137718319893, 0.5016634166240692, 0.8614784181118011,
    ]), dtype=torch.float32)
    assert torch.equal(nf4.nf4_midpoints(), cuda)


def test_bucket_tables_have_one_midpoint_in_15_buckets():
    lut, threshold = nf4_fast.bucket_tables()
    assert lut.shape == threshold.shape == (65536,)
    assert int(torch.isfinite(threshold).sum()) == 15
    assert torch.equal(threshold[torch.isfinite(threshold)].sort().values, nf4.nf4_midpoints())


def test_fp4_and_int4_grids_equal_bitsandbytes_tables():
    assert torch.equal(quant_study.fp4_grid(), torch.unique(F.get_4bit_type("fp4", device="cpu")))
    # bnb's get_4bit_type("int4") fails in 0.50.2 (an integer tensor divided in place): the levels are k/7
    int4 = quant_study.int4_grid()
    assert int4.numel() == 15 and torch.equal(int4, -int4.flip(0)) and torch.equal(int4 * 7, int4.mul(7).round())


def test_dynamic_map_equals_bitsandbytes():
    assert torch.equal(nf4.dynamic_map(), F.create_dynamic_map())


# ----------------------------------------------------------------------------------------------------
# Quantize: bit-exact with bitsandbytes.functional.quantize_4bit(..., quant_type="nf4") on CPU
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_quantize_bit_exact_random_shapes(quantize, dtype):
    for k, (shape, blocksize) in enumerate(random_cases(seed=DTYPES.index(dtype), count=40)):
        x = random_tensor(shape, dtype, seed=k)
        packed, absmax = quantize(x, blocksize)
        bnb_packed, state = bnb_quantize(x, blocksize)
        assert packed.dtype == torch.uint8 and absmax.dtype == torch.float32
        assert packed.shape == bnb_packed.shape == (math.ceil(x.numel() / 2), 1)
        assert torch.equal(packed, bnb_packed), (shape, blocksize, dtype)
        assert torch.equal(absmax, state.absmax), (shape, blocksize, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fast_equals_reference_on_many_chunks(dtype, monkeypatch):
    monkeypatch.setattr(nf4_fast, "CHUNK", 4096)  # the smallest chunk (one 4096-value block): many chunk borders
    x = random_tensor((301, 1031), dtype, seed=7)  # 310,331 values: many chunks, a trailing partial block
    assert x.numel() > 10 * nf4_fast.CHUNK
    for blocksize in (32, 4096):
        fast = nf4_fast.quantize_nf4(x, blocksize)
        assert torch.equal(fast[0], nf4.quantize_nf4_reference(x, blocksize)[0])
        bnb_packed, state = bnb_quantize(x, blocksize)
        assert torch.equal(fast[0], bnb_packed) and torch.equal(fast[1], state.absmax)
        assert torch.equal(nf4_fast.dequantize_nf4(*fast, x.shape, blocksize),
                           nf4.dequantize_nf4_reference(*fast, x.shape, blocksize))


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
def test_all_zero_blocks(quantize):
    x = torch.randn(64 * 3 + 10)
    x[64:128] = 0  # a full zero block: absmax 0, codes 7 (byte 0x77)
    x[192:] = 0  # a zero trailing partial block: bnb clamps its absmax to 1e-38
    packed, absmax = quantize(x, 64)
    bnb_packed, state = bnb_quantize(x, 64)
    assert torch.equal(packed, bnb_packed) and torch.equal(absmax, state.absmax)
    assert absmax[1] == 0 and absmax[3] == torch.tensor(1e-38)
    assert bool((packed[32:64] == 0x77).all()) and bool((packed[96:] == 0x77).all())
    zeros = torch.zeros(7)
    assert torch.equal(quantize(zeros, 64)[0], bnb_quantize(zeros, 64)[0])
    for dequantize in DEQUANTIZERS:
        assert torch.equal(dequantize(packed, absmax, x.shape, 64)[64:128], torch.zeros(64))


def on_midpoint_inputs(tail: bool, absmax: float) -> torch.Tensor:
    """Values whose scaled value is exactly a midpoint, and one ulp either side, with absmax 1 or 2."""
    mids = nf4.nf4_midpoints()
    up = torch.nextafter(mids, torch.tensor(2.0))
    down = torch.nextafter(mids, torch.tensor(-2.0))
    values = torch.cat([mids, up, down]) * absmax  # scaling by a power of two is exact
    head = torch.full((64,), absmax)  # one full block whose absmax is `absmax`
    if tail:  # 46 values in a trailing partial block (its own absmax, true division)
        return torch.cat([head, torch.tensor([absmax]), values])
    return torch.cat([torch.tensor([absmax]), values, torch.zeros(64 - 46)])


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("tail", [False, True], ids=["full-block", "partial-block"])
@pytest.mark.parametrize("absmax", [1.0, 2.0])
def test_values_on_midpoints_tie_to_lower_code(quantize, tail, absmax):
    x = on_midpoint_inputs(tail, absmax)
    packed, state_absmax = quantize(x, 64)
    bnb_packed, state = bnb_quantize(x, 64)
    assert torch.equal(packed, bnb_packed) and torch.equal(state_absmax, state.absmax)
    codes = nf4.unpack_nf4(packed, x.numel())
    start = 65 if tail else 1
    lower = torch.arange(15, dtype=torch.uint8)
    assert torch.equal(codes[start:start + 15], lower)  # exactly on a midpoint → lower code
    assert torch.equal(codes[start + 15:start + 30], lower + 1)  # one ulp above → upper code
    assert torch.equal(codes[start + 30:start + 45], lower)  # one ulp below → lower code


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
def test_multiply_by_reciprocal_but_divide_in_trailing_block(quantize):
    """bnb 0.50.2 CPU: absmax 1.7956262826919556, x = -1.096468448638916 → code 2 by x * (1/absmax), 1 by x / absmax."""
    am, v = 1.7956262826919556, -1.096468448638916
    full = torch.tensor([am, v] + [0.0] * 62)
    assert int(nf4.unpack_nf4(quantize(full, 64)[0], 64)[1]) == 2
    tail = torch.cat([torch.ones(64), torch.tensor([am, v])])
    assert int(nf4.unpack_nf4(quantize(tail, 64)[0], 66)[65]) == 1
    for x in (full, tail):
        assert torch.equal(quantize(x, 64)[0], bnb_quantize(x, 64)[0])


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
def test_packing_high_nibble_first_and_odd_padding(quantize):
    packed, _ = quantize(torch.tensor([1.0, -1.0, 0.0, 0.0]), 64)
    assert packed.reshape(-1).tolist() == [0xF0, 0x77]
    packed, _ = quantize(torch.tensor([1.0, -1.0, 1.0]), 64)  # odd length: pad code 7
    assert packed.reshape(-1).tolist() == [0xF0, 0xF7]


def test_non_contiguous_input_is_flattened_row_major():
    transposed = torch.randn(96, 130).t()  # (130, 96)
    strided = torch.randn(2 * 70_000 + 6)[::2]  # 1-D with stride 2, several chunks
    columns = torch.randn(300, 200).bfloat16()[:, ::3]
    for x in (transposed, strided, columns):
        assert not x.is_contiguous()
        for quantize in QUANTIZERS:
            packed, absmax = quantize(x, 64)
            bnb_packed, state = bnb_quantize(x, 64)
            assert torch.equal(packed, bnb_packed) and torch.equal(absmax, state.absmax)


# ----------------------------------------------------------------------------------------------------
# Dequantize
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dequantize_equals_bitsandbytes_public_api(dtype):
    """Shapes where bnb's native CPU kernel sees whole blocks per row.

    Even rows and blocksize <= 1024 only: otherwise bnb falls back to a torch.compile'd kernel (~25 s to
    compile); those cases are covered against the same kernel run eagerly in the next test.
    """
    cases = [((768, 768), 64), ((64, 256), 128), ((2, 3, 512), 256), ((1000,), 64), ((10, 96), 32),
             ((96,), 32), ((3, 1024), 1024), ((1030,), 512)]
    for k, (shape, blocksize) in enumerate(cases):
        x = random_tensor(shape, dtype, seed=100 + k)
        packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
        ours = nf4_fast.dequantize_nf4(packed, absmax, x.shape, blocksize, dtype)
        bnb_packed, state = bnb_quantize(x, blocksize)
        theirs = F.dequantize_4bit(bnb_packed, state)
        assert ours.shape == x.shape and ours.dtype == dtype
        assert torch.equal(ours, theirs.reshape(x.shape)), (shape, blocksize, dtype)
        assert torch.equal(ours, nf4.dequantize_nf4_reference(packed, absmax, x.shape, blocksize, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dequantize_equals_bitsandbytes_kernel_any_shape(dtype):
    """Every shape (odd, partial blocks, blocks spanning rows, many chunks) against bnb's flat pure-PyTorch kernel."""
    for k, (shape, blocksize) in enumerate(random_cases(seed=11, count=24) + [((301, 1031), 64)]):
        x = random_tensor(shape, dtype, seed=200 + k)
        packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
        ours = nf4_fast.dequantize_nf4(packed, absmax, shape, blocksize, dtype)
        assert torch.equal(ours, bnb_default_dequantize(packed, absmax, shape, blocksize, dtype)), shape
        assert torch.equal(ours, nf4.dequantize_nf4_reference(packed, absmax, shape, blocksize, dtype))


def test_dequantize_agrees_with_bitsandbytes_wherever_bnb_agrees_with_itself():
    """Blocks spanning rows: bnb 0.50.2's AVX-512 CPU kernel indexes absmax per row; its flat kernel does not.

    Ours follows the flat definition (the quantizer's, and CUDA's). On a CPU without AVX-512 both bnb paths
    agree, and then ours equals bnb's public dequantize_4bit too.
    """
    for shape, blocksize in [((10, 96), 64), ((64, 64), 128), ((3, 100), 64)]:
        x = random_tensor(shape, torch.float32, seed=5)
        packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
        ours = nf4_fast.dequantize_nf4(packed, absmax, shape, blocksize)
        flat = bnb_default_dequantize(packed, absmax, shape, blocksize, torch.float32)
        public = F.dequantize_4bit(*bnb_quantize(x, blocksize)).reshape(shape)
        assert torch.equal(ours, flat)
        if torch.equal(public, flat):
            assert torch.equal(ours, public)


def test_round_trip_error_is_bounded_by_half_a_bucket():
    x = torch.randn(4096, 64)
    packed, absmax = nf4_fast.quantize_nf4(x)
    y = nf4_fast.dequantize_nf4(packed, absmax, x.shape)
    gaps = (nf4.nf4_codebook()[1:] - nf4.nf4_codebook()[:-1]).max()
    per_block = (y - x).abs().reshape(-1, 64).amax(dim=1)
    assert bool((per_block <= absmax * gaps / 2 * (1 + 1e-6)).all())


# ----------------------------------------------------------------------------------------------------
# Double quantization
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_double_quant_equals_bitsandbytes_state(dtype):
    g = torch.Generator().manual_seed(21)
    for k, n in enumerate([64, 1000, 64 * 256, 64 * 256 + 1, 200_003]):
        blocksize = nf4.ALLOWED_BLOCKSIZES[k % 3]
        x = (torch.randn(n, generator=g) * (k + 1) * 0.01).to(dtype)
        packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
        assert torch.equal(absmax, nf4.quantize_nf4_reference(x, blocksize)[1])
        qabsmax, absmax2, offset = nf4.double_quantize(absmax)
        bnb_packed, state = bnb_quantize(x, blocksize, compress_statistics=True)
        assert torch.equal(packed, bnb_packed)  # NF4 codes do not depend on DQ
        assert torch.equal(qabsmax, state.absmax) and qabsmax.dtype == torch.uint8
        assert torch.equal(absmax2, state.state2.absmax) and absmax2.dtype == torch.float32
        assert torch.equal(offset, state.offset)
        assert state.state2.blocksize == nf4.DQ_BLOCKSIZE
        assert torch.equal(state.state2.code, nf4.dynamic_map())
        restored = nf4.dequantize_absmax(qabsmax, absmax2, offset)
        assert torch.equal(restored, F.dequantize_blockwise(state.absmax, state.state2) + state.offset)
        if n % 2 == 0:  # odd lengths would send bnb through torch.compile
            ours = nf4_fast.dequantize_nf4(packed, restored, (n,), blocksize, dtype)
            assert torch.equal(ours, F.dequantize_4bit(bnb_packed, state).reshape(-1))


def test_double_quant_constant_absmax_block_stores_zero():
    x = torch.ones(64 * 300)  # every absmax is 1 → mean-subtracted absmax is all zeros
    qabsmax, absmax2, offset = nf4.double_quantize(nf4.quantize_nf4_reference(x)[1])
    _, state = bnb_quantize(x, 64, compress_statistics=True)
    assert torch.equal(qabsmax, state.absmax) and torch.equal(absmax2, state.state2.absmax)
    assert bool((absmax2 == 0).all()) and float(offset) == 1.0
    assert torch.equal(nf4.dequantize_absmax(qabsmax, absmax2, offset), torch.ones(300))


def test_double_quant_error_is_small():
    x = torch.randn(1 << 18, generator=torch.Generator().manual_seed(0))
    err = quant_study.double_quant_error(x)
    assert err["absmax 최대 상대 오차"] < 0.01  # the dynamic 8-bit map keeps absmax within about 0.5 %
    assert 0 <= err["MSE 증가 %"] < 1.0


# ----------------------------------------------------------------------------------------------------
# Bits per parameter and memory, from tensor sizes
# ----------------------------------------------------------------------------------------------------


def test_bits_per_parameter_paper_numbers():
    assert nf4.bits_per_parameter(64) == 4.5
    assert nf4.bits_per_parameter(64, double_quant=True) == 4.126953125
    for bs in nf4.ALLOWED_BLOCKSIZES:
        assert nf4.bits_per_parameter(bs) == 4 + 32 / bs
        assert nf4.bits_per_parameter(bs, True) == 4 + 8 / bs + 32 / (bs * 256)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 64 * 256, 64 * 256 * 3 + 17])
def test_storage_bytes_match_actual_tensors(n):
    x = torch.randn(n)
    packed, absmax = nf4.quantize_nf4_reference(x, 64)
    qabsmax, absmax2, _ = nf4.double_quantize(absmax)
    plain, dq = nf4.storage_bytes(n, 64), nf4.storage_bytes(n, 64, double_quant=True)
    assert plain["codes"] == dq["codes"] == packed.numel() * packed.element_size()
    assert plain["absmax_fp32"] == absmax.numel() * absmax.element_size()
    assert dq["absmax_uint8"] == qabsmax.numel() * qabsmax.element_size()
    assert dq["absmax2_fp32"] == absmax2.numel() * absmax2.element_size()


def test_weight_memory_7b_65b():
    assert nf4.weight_memory_bytes(7 * 10**9, "bf16") == 14 * 10**9
    assert nf4.weight_memory_bytes(7 * 10**9, "nf4") == 7 * 10**9 * 4.5 / 8
    assert nf4.weight_memory_bytes(7 * 10**9, "nf4+dq") == 7 * 10**9 // 2 + 7 * 10**9 // 64 + 4 * math.ceil(
        7 * 10**9 / 64 / 256)
    table = nf4.memory_table()
    assert list(table["model"]) == ["7B", "65B"]
    saving = float(table.loc[table["model"] == "65B", "DQ saves GB"].iloc[0])
    assert saving == pytest.approx(65e9 * 0.373046875 / 8 / 1e9, rel=1e-6)  # QLoRA §3: "about 3 GB"


# ----------------------------------------------------------------------------------------------------
# Error study
# ----------------------------------------------------------------------------------------------------


def test_fake_quantize_formats():
    x = torch.randn(8 * 1024 + 10, generator=torch.Generator().manual_seed(1))
    packed, absmax = nf4.quantize_nf4_reference(x)
    assert torch.equal(quant_study.fake_quantize(x, "nf4"), nf4.dequantize_nf4_reference(packed, absmax, x.shape))
    bnb_packed, state = F.quantize_4bit(x, blocksize=64, quant_type="fp4")
    bnb_fp4 = bnb_default_dequantize(bnb_packed, state.absmax, x.shape, 64, torch.float32, quant_type="fp4")
    assert torch.equal(quant_study.fake_quantize(x, "fp4"), bnb_fp4)
    y = quant_study.fake_quantize(x, "int4").reshape(-1)[:8192].reshape(-1, 64)
    levels = y / x[:8192].reshape(-1, 64).abs().amax(dim=1, keepdim=True) * 7
    assert torch.allclose(levels, levels.round(), atol=1e-4)



def test_nf4_has_lowest_error_on_gaussian_weights():
    x = torch.randn(1 << 16, generator=torch.Generator().manual_seed(2))
    table = quant_study.error_study({"gaussian": x})
    mse = dict(zip(table["format"], table["mse"]))
    assert mse["nf4"] < mse["fp4"] and mse["nf4"] < mse["int4"]
    assert mse["nf4"] <= mse["nf4+dq"]
    study = quant_study.blocksize_study(x, blocksizes=(32, 64, 4096))
    assert list(study.columns) == ["blocksize", "format", "bits/param", "mse"]
    nf4_rows = study[study["format"] == "nf4"]
    assert nf4_rows["mse"].is_monotonic_increasing and nf4_rows["bits/param"].is_monotonic_decreasing


# ----------------------------------------------------------------------------------------------------
# Figure (the blocksize explorer's tests are in tests/test_widgets.py)
# ----------------------------------------------------------------------------------------------------


def test_codebook_figure_draws():
    fig = quant_study.nf4_codebook_figure()
    assert len(fig.axes) == 2
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------------------------------
# Bad input → clear errors that name the argument
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", QUANTIZERS, ids=lambda f: f.__name__)
def test_quantize_rejects_bad_input(quantize):
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(200)
        x[130] = bad
        with pytest.raises(ValueError, match=r"x must be finite.*index 130"):
            quantize(x, 64)
    x = torch.randn(2, 50)
    x[1, 47] = float("nan")  # in the trailing partial block
    with pytest.raises(ValueError, match=r"x must be finite.*index 97\)"):
        quantize(x, 64)
    with pytest.raises(ValueError, match="x must have at least one element"):
        quantize(torch.empty(0, 5), 64)
    for blocksize in (16, 100, 8192, 0, -64):
        with pytest.raises(ValueError, match=r"blocksize must be one of \(32, 64"):
            quantize(torch.randn(10), blocksize)
    for blocksize in ("64", 64.0, True, None):
        with pytest.raises(TypeError, match="blocksize must be an int"):
            quantize(torch.randn(10), blocksize)
    for dtype in (torch.int32, torch.int64, torch.uint8, torch.bool, torch.float64):
        with pytest.raises(TypeError, match="x must have dtype float32, bfloat16 or float16"):
            quantize(torch.ones(10, dtype=dtype), 64)


@pytest.mark.parametrize("quantize", QUANTIZERS + [nf4.blockwise_absmax], ids=lambda f: f.__name__)
@pytest.mark.parametrize("not_a_tensor", ["weights", 3, 2.5, [1.0, 2.0], None], ids=repr)
def test_quantize_names_the_type_when_x_is_not_a_tensor(quantize, not_a_tensor):
    with pytest.raises(TypeError, match=f"x must be a torch.Tensor, got {type(not_a_tensor).__name__}"):
        quantize(not_a_tensor, 64)


@pytest.mark.parametrize("dequantize", DEQUANTIZERS, ids=lambda f: f.__name__)
def test_dequantize_rejects_mismatched_or_bad_arguments(dequantize):
    packed, absmax = nf4.quantize_nf4_reference(torch.randn(10, 100), 64)
    with pytest.raises(ValueError, match=r"absmax must hold ceil\(n/blocksize\) = 16 values"):
        dequantize(packed, absmax[:-1], (10, 100), 64)
    with pytest.raises(ValueError, match=r"absmax must hold ceil\(n/blocksize\) = 32 values"):
        dequantize(packed, absmax, (10, 100), 32)  # wrong blocksize shows up as an absmax size mismatch
    with pytest.raises(ValueError, match=r"packed must hold ceil\(n/2\) = 500 bytes"):
        dequantize(packed[:-1], absmax, (10, 100), 64)
    with pytest.raises(ValueError, match="packed must hold"):
        dequantize(packed, absmax, (10, 101), 64)
    with pytest.raises(TypeError, match="packed must be a uint8"):
        dequantize(packed.int(), absmax, (10, 100), 64)
    with pytest.raises(TypeError, match="absmax must be a float32"):
        dequantize(packed, absmax.half(), (10, 100), 64)
    with pytest.raises(ValueError, match=r"shape\[0\] must be an integer >= 1"):
        dequantize(packed, absmax, (0, 100), 64)
    with pytest.raises(TypeError, match="dtype must be torch.float32, torch.bfloat16 or torch.float16"):
        dequantize(packed, absmax, (10, 100), 64, torch.int8)
    with pytest.raises(ValueError, match="blocksize must be one of"):
        dequantize(packed, absmax, (10, 100), 48)


@pytest.mark.parametrize("dequantize", DEQUANTIZERS, ids=lambda f: f.__name__)
def test_dequantize_names_strings_and_numbers_passed_for_tensors(dequantize):
    packed, absmax = nf4.quantize_nf4_reference(torch.randn(10, 100), 64)
    with pytest.raises(TypeError, match="packed must be a uint8 torch.Tensor .*; got str"):
        dequantize("packed", absmax, (10, 100))
    with pytest.raises(TypeError, match="packed must be a uint8 torch.Tensor .*; got int"):
        dequantize(7, absmax, (10, 100))
    with pytest.raises(TypeError, match="absmax must be a float32 torch.Tensor; got float"):
        dequantize(packed, 1.5, (10, 100))
    with pytest.raises(TypeError, match="absmax must be a float32 torch.Tensor; got str"):
        dequantize(packed, "absmax", (10, 100))
    for shape in ("10, 100", 1000, None):
        with pytest.raises(TypeError, match="shape must be a non-empty sequence of positive ints"):
            dequantize(packed, absmax, shape)
    with pytest.raises(TypeError, match=r"shape\[1\] must be an integer >= 1, got '100'"):
        dequantize(packed, absmax, (10, "100"))
    assert torch.equal(dequantize(packed, absmax, torch.Size([10, 100])), dequantize(packed, absmax, [10, 100]))


def test_other_functions_reject_bad_arguments():
    with pytest.raises(TypeError, match="absmax must be a float32"):
        nf4.double_quantize(torch.ones(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="absmax must be a float32 torch.Tensor; got str"):
        nf4.double_quantize("absmax")
    with pytest.raises(TypeError, match="absmax must be a float32 torch.Tensor; got int"):
        nf4.double_quantize(3)
    with pytest.raises(ValueError, match="absmax must be finite"):
        nf4.double_quantize(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="absmax2 must hold"):
        nf4.dequantize_absmax(torch.zeros(300, dtype=torch.uint8), torch.ones(1), 0.0)
    with pytest.raises(TypeError, match="qabsmax must be a uint8 torch.Tensor"):
        nf4.dequantize_absmax("qabsmax", torch.ones(1), 0.0)
    with pytest.raises(ValueError, match="fmt must be one of"):
        quant_study.fake_quantize(torch.randn(64), "nf3")
    for study in (quant_study.fake_quantize, quant_study.quantization_mse, quant_study.double_quant_error):
        with pytest.raises(TypeError, match="x must be a torch.Tensor, got str"):
            study("weights")
        with pytest.raises(TypeError, match="x must be a torch.Tensor, got int"):
            study(5)
    with pytest.raises(ValueError, match="fmt must be one of 'bf16', 'nf4', 'nf4\\+dq'"):
        nf4.weight_memory_bytes(10, "fp8")
    with pytest.raises(ValueError, match="n_params must be an integer >= 1"):
        nf4.weight_memory_bytes(0, "nf4")
    with pytest.raises(TypeError, match="n_params must be an integer >= 1, got '7B'"):
        nf4.weight_memory_bytes("7B", "nf4")
    with pytest.raises(TypeError, match="n must be an integer >= 1, got 100.0"):
        nf4.storage_bytes(100.0)
    with pytest.raises(ValueError, match="blocksize2 must be one of"):
        nf4.bits_per_parameter(64, True, 100)
    with pytest.raises(ValueError, match="offset must be a float in"):
        nf4.nf4_codebook("0.9")
