"""DoRA vs LoRA speed: forward+backward of one 768→3072 layer on CPU, ours and peft's, in one run.

Usage: python benchmarks/dora.py [--repeat N] [--threads T]

Five layers on copies of the same base weight, r=8, alpha=16, fp32, input x of shape (32, 128, 768):
course_utils' ``LoRALinear``, ``DoRALinear`` (the readable class notebook 02 shows) and ``FusedDoRALinear``
(the bonus fused forward), and peft's LoRA and DoRA (``LoraConfig(use_dora=True)``) layers.
One timed call is ``zero grads → y = layer(x) → y.backward(g)`` with a fixed random ``g``. Calls are
interleaved (ours LoRA, ours DoRA, ours fused DoRA, peft LoRA, …) so a busy machine slows all alike;
the tables show medians after one warm-up call each. Two settings: the input without gradient (only the
adapter's gradients are computed: the strictest ratio) and the input with gradient (as inside a network,
where ``W0ᵀ g`` is computed too). Before timing, the script checks that our outputs equal peft's.
"""

from __future__ import annotations

import argparse
import copy
import sys

import torch
from _timing import interleaved_medians  # benchmarks/ is on sys.path when a script runs
from torch import nn

from course_utils.adapters.dora import FusedDoRALinear
from course_utils.adapters.peft_interop import dora_from_peft, lora_from_peft

IN_FEATURES, OUT_FEATURES, RANK, ALPHA = 768, 3072, 8, 16
BATCH, SEQ = 32, 128


class OneLinear(nn.Module):
    """The smallest model peft can wrap: one Linear named 'lin'."""

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.lin = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def build_layers(seed: int = 0) -> dict[str, nn.Module]:
    """The five layers on copies of one base weight, with the same non-zero A, B (and m) everywhere."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    base = nn.Linear(IN_FEATURES, OUT_FEATURES)
    layers: dict[str, nn.Module] = {}
    for use_dora in (False, True):
        config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=["lin"], use_dora=use_dora)
        peft_layer = get_peft_model(OneLinear(copy.deepcopy(base)), config).base_model.model.lin
        with torch.no_grad():
            peft_layer.lora_B["default"].weight.normal_(std=0.02)
        if use_dora:
            layers["ours DoRA"] = dora_from_peft(peft_layer)
            fused = FusedDoRALinear(copy.deepcopy(base), r=RANK, alpha=ALPHA)
            fused.load_state_dict(layers["ours DoRA"].state_dict())
            layers["ours fused"] = fused
        else:
            layers["ours LoRA"] = lora_from_peft(peft_layer)
        layers[f"peft {'DoRA' if use_dora else 'LoRA'}"] = peft_layer
    return {name: layers[name] for name in ("ours LoRA", "ours DoRA", "ours fused", "peft LoRA", "peft DoRA")}


def step(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    """One training-style call: clear grads, forward, backward."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).backward(grad)


def main(argv: list[str] | None = None) -> int:
    """Check ours == peft, time the four layers in two settings, print the tables and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per layer and setting (default 10)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.threads < 0:
        parser.error("--repeat must be >= 1 and --threads >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)

    import peft

    layers = build_layers()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, SEQ, IN_FEATURES, generator=generator)
    grad = torch.randn(BATCH, SEQ, OUT_FEATURES, generator=generator)
    with torch.no_grad():
        out = {name: layer(x) for name, layer in layers.items()}
    worst = 0.0
    for ours, kind in (("ours LoRA", "LoRA"), ("ours DoRA", "DoRA"), ("ours fused", "DoRA")):
        ref = out[f"peft {kind}"].double()
        rel = ((out[ours].double() - ref).norm() / ref.norm()).item()
        worst = max(worst, rel)
        print(f"{ours} vs peft {kind}: relative output difference {rel:.1e}")
    if worst > 1e-5:
        print("outputs differ from peft: not timing", file=sys.stderr)
        return 1

    print(f"\n{IN_FEATURES}→{OUT_FEATURES} Linear, x {BATCH}×{SEQ}×{IN_FEATURES} fp32, r={RANK}, "
          f"forward+backward, median of {args.repeat} runs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), peft {peft.__version__}")
    for input_grad in (False, True):
        xi = x.clone().requires_grad_(input_grad)
        calls = {name: (lambda layer=layer: step(layer, xi, grad)) for name, layer in layers.items()}
        ms = interleaved_medians(calls, args.repeat)
        title = "input with gradient (as inside a network)" if input_grad else "input without gradient"
        print(f"\n{title}")
        print(f"{'':12s}{'median ms':>11s}")
        for name, value in ms.items():
            print(f"{name:12s}{value:11.1f}")
        print(f"ratio ours DoRA / ours LoRA : {ms['ours DoRA'] / ms['ours LoRA']:.2f}x")
        print(f"ratio ours fused / ours LoRA: {ms['ours fused'] / ms['ours LoRA']:.2f}x")
        print(f"ratio ours fused / ours DoRA: {ms['ours fused'] / ms['ours DoRA']:.2f}x   (the bonus class's gain)")
        print(f"ratio peft DoRA / peft LoRA : {ms['peft DoRA'] / ms['peft LoRA']:.2f}x")
        print(f"ratio peft DoRA / ours DoRA : {ms['peft DoRA'] / ms['ours DoRA']:.2f}x")
        print(f"ratio peft LoRA / ours LoRA : {ms['peft LoRA'] / ms['ours LoRA']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
