"""NF4 against other 4-bit grids (FP4, INT4), what blocksize and double quantization cost, and the codebook figure.

Every format here shares NF4's blockwise absmax scaling (:func:`course_utils.quant.nf4.blockwise_absmax`, the
bitsandbytes rules); only the grid of 16 (or 15) values differs. ``"nf4"`` round trips go through
:mod:`course_utils.quant.nf4_fast`, bit-exact with bitsandbytes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_utils.quant import nf4, nf4_fast
from course_utils.runtime import validate

__all__ = [
    "FORMATS",
    "blocksize_study",
    "double_quant_error",
    "error_study",
    "fake_quantize",
    "fp4_grid",
    "int4_grid",
    "nf4_codebook_figure",
    "quantization_mse",
]

FORMATS = ("nf4", "nf4+dq", "fp4", "int4")
"""4-bit formats compared in the error study (all blockwise absmax, same blocksize)."""


def fp4_grid() -> Tensor:
    """bitsandbytes' FP4 (E2M1) values, sorted and normalised to [-1, 1] (±0 merged: 15 values).

    bitsandbytes decodes the 8 magnitudes of its E2M1 code as 0, 0.0625, 2, 3, 4, 6, 8, 12 (divided by 12);
    the standard OCP E2M1 subnormal would be 0.5 (of 6), bitsandbytes' is 0.0625 (of 12).
    """
    magnitudes = torch.tensor([0.0, 0.0625, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0]) / 12.0
    return torch.cat([-magnitudes.flip(0)[:-1], magnitudes])


def int4_grid() -> Tensor:
    """Symmetric absmax INT4: the 15 levels k/7 for k = -7 … 7 (float32)."""
    return torch.arange(-7, 8, dtype=torch.float32) / 7.0


def fake_quantize(x: Tensor, fmt: str = "nf4", blocksize: int = 64) -> Tensor:
    """Quantize then dequantize `x` (float32 result, same shape) in one of :data:`FORMATS`.

    ``"nf4"`` and ``"nf4+dq"`` are the NF4 round trip (+ double quantization of the absmax); ``"fp4"`` and
    ``"int4"`` round each absmax-scaled value to the nearest point of :func:`fp4_grid` / :func:`int4_grid`
    (ties to the lower value, as NF4).
    """
    validate.float_tensor(x)
    validate.choice(fmt, FORMATS, "fmt")
    if fmt in ("nf4", "nf4+dq"):
        packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
        if fmt == "nf4+dq":
            absmax = nf4.dequantize_absmax(*nf4.double_quantize(absmax))
        return nf4_fast.dequantize_nf4(packed, absmax, x.shape, blocksize)
    grid = fp4_grid() if fmt == "fp4" else int4_grid()
    scaled, absmax = nf4.blockwise_absmax(x, blocksize)
    values = grid[torch.bucketize(scaled, (grid[:-1] + grid[1:]) / 2)]
    return (values * absmax.repeat_interleave(blocksize)[:scaled.numel()]).reshape(x.shape)


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
    for name, x in tqdm(tensors.items(), desc="오차 측정", disable=not progress):
        mse = {fmt: quantization_mse(x.detach(), fmt, blocksize) for fmt in formats}
        for fmt in formats:
            row = {"tensor": name, "format": fmt, "mse": mse[fmt]}
            if "nf4" in mse:
                row["mse / nf4"] = mse[fmt] / mse["nf4"]
            rows.append(row)
    return pd.DataFrame(rows)


def blocksize_study(x: Tensor, blocksizes: tuple[int, ...] = nf4.ALLOWED_BLOCKSIZES,
                    formats: tuple[str, ...] = ("nf4", "nf4+dq")):
    """pandas DataFrame: for each blocksize and format, bits per parameter and MSE on `x`."""
    import pandas as pd

    rows = []
    for bs in blocksizes:
        for fmt in formats:
            rows.append({"blocksize": bs, "format": fmt, "bits/param": nf4.bits_per_parameter(bs, fmt == "nf4+dq"),
                         "mse": quantization_mse(x, fmt, bs)})
    return pd.DataFrame(rows)


def double_quant_error(x: Tensor, blocksize: int = 64) -> dict[str, float]:
    """What double quantization costs on `x`: absmax relative error and the weight MSE with and without DQ."""
    packed, absmax = nf4_fast.quantize_nf4(x, blocksize)
    absmax_dq = nf4.dequantize_absmax(*nf4.double_quantize(absmax))
    rel = (absmax_dq - absmax).abs() / absmax.clamp(min=1e-38)
    xf = x.float()
    mse = float(((nf4_fast.dequantize_nf4(packed, absmax, x.shape, blocksize) - xf) ** 2).mean())
    mse_dq = float(((nf4_fast.dequantize_nf4(packed, absmax_dq, x.shape, blocksize) - xf) ** 2).mean())
    return {"absmax 최대 상대 오차": float(rel.max()), "absmax 평균 상대 오차": float(rel.mean()),
            "MSE (NF4)": mse, "MSE (NF4+DQ)": mse_dq, "MSE 증가 %": 100 * (mse_dq - mse) / mse}


def nf4_codebook_figure():
    """NF4 codebook against the N(0, 1) density, with the FP4 (E2M1) and INT4 grids beside it (figs/)."""
    from matplotlib.figure import Figure

    try:
        from course_utils.runtime.plots import setup_korean_font

        setup_korean_font()
        korean = True
    except (ImportError, FileNotFoundError):
        korean = False
    text = {"title": "NF4 codebook: 16 values from normal quantiles",
            "density": "N(0,1) density (x scaled to the NF4 range)",
            "x": "normalised value (x / block absmax)", "grids": "same 4 bits, different grids", "y": "density"}
    if korean:
        text = {"title": "NF4 코드북: 정규분포 분위수로 만든 16개 값", "density": "N(0,1) 밀도 (x축을 NF4 범위로 맞춤)",
                "x": "정규화된 값 (블록 absmax로 나눈 값)", "grids": "같은 4비트, 다른 격자", "y": "밀도"}
    code = nf4.nf4_codebook()
    z_max = float(torch.special.ndtri(torch.tensor(nf4.NF4_OFFSET, dtype=torch.float64)))
    fig = Figure(figsize=(9, 4.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[2.2, 1], sharex=True)
    u = torch.linspace(-1.05, 1.05, 401, dtype=torch.float64)
    density = torch.exp(-(u * z_max) ** 2 / 2) / math.sqrt(2 * math.pi)
    top.plot(u, density, color="#4C72B0", label=text["density"])
    for i, c in enumerate(code.tolist()):
        top.axvline(c, color="#C44E52", lw=0.8, alpha=0.7)
        top.annotate(str(i), (c, 0.415), ha="center", fontsize=7, color="#C44E52")
    for m in nf4.nf4_midpoints().tolist():
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
