"""Why a low rank? The singular-value energy of a weight update ΔW (LoRA paper §4.1 and §7, Eckart–Young).

``singular_value_energy(ΔW)[r-1]`` is the share of ‖ΔW‖_F² that the best rank-r approximation keeps;
``rank_for_energy`` inverts it and ``energy_figure`` draws the curves (notebook 01, section 2).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["energy_figure", "rank_for_energy", "singular_value_energy"]


def singular_value_energy(delta: torch.Tensor) -> torch.Tensor:
    """Cumulative energy fraction of a matrix's singular values: ``out[k-1] = Σ_{i<k} σ_i² / Σ σ_i²``.

    ``out[r-1]`` is the share of ‖ΔW‖_F² the best rank-r approximation keeps (Eckart–Young); float64 math.

    Args:
        delta (`torch.Tensor`): a 2-D matrix, e.g. ΔW = W_after - W_before; must not be all zeros.
    """
    if delta.ndim != 2:
        raise ValueError(f"delta must be a 2-D matrix, got shape {tuple(delta.shape)}")
    s = torch.linalg.svdvals(delta.detach().to(torch.float64).cpu())
    energy = s.square()
    total = energy.sum()
    if total == 0:
        raise ValueError("delta must not be all zeros (its energy is 0)")
    return torch.cumsum(energy, 0) / total


def rank_for_energy(delta: torch.Tensor, fraction: float, energy: torch.Tensor | None = None) -> int:
    """Smallest rank r whose top-r singular values hold at least ``fraction`` of the energy.

    Args:
        delta (`torch.Tensor`): a 2-D matrix.
        fraction (`float`): target energy share in (0, 1].
        energy (`torch.Tensor`, *optional*): ``singular_value_energy(delta)`` when already computed (saves an SVD).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cum = singular_value_energy(delta) if energy is None else energy
    if cum.ndim != 1 or len(cum) != min(delta.shape):
        raise ValueError(f"energy must be singular_value_energy(delta): {min(delta.shape)} values, "
                         f"got shape {tuple(cum.shape)}")
    # tolerate float rounding at fraction == 1.0
    return int(torch.searchsorted(cum, torch.tensor(fraction - 1e-12, dtype=cum.dtype)).item()) + 1


def energy_figure(curves: Mapping[str, torch.Tensor], mark_rank: int = 8, max_rank: int = 64):
    """Cumulative singular-value energy curves (from :func:`singular_value_energy`), one line per matrix.

    Args:
        curves (`Mapping[str, torch.Tensor]`): label -> cumulative energy fractions.
        mark_rank (`int`): rank marked with a vertical line and read off in the legend. Defaults to 8.
        max_rank (`int`): last rank shown. Defaults to 64.
    """
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("curves must contain at least one label -> energy curve")
    if mark_rank < 1:
        raise ValueError(f"mark_rank must be >= 1, got {mark_rank}")
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for label, energy in curves.items():
        k = min(max_rank, len(energy))
        at = float(energy[min(mark_rank, len(energy)) - 1])
        ax.plot(range(1, k + 1), energy[:k].numpy(), label=f"{label} (r={mark_rank}: {at:.0%})")
    ax.axvline(mark_rank, color="k", ls="--", lw=1)
    ax.set_xlabel("랭크 r (위에서부터 r개의 특이값)")
    ax.set_ylabel(r"누적 에너지 비율 $\sum_{i \leq r} \sigma_i^2 / \sum_i \sigma_i^2$")
    ax.set_ylim(0, 1.02)
    ax.set_title("ΔW의 에너지가 몇 개의 방향에 모여 있나")
    ax.legend(fontsize=8, loc="lower right")
    return fig
