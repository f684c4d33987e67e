"""NF4 quantize / dequantize: course_utils.quant.nf4_fast against bitsandbytes' CPU kernels, on one 4096×4096 fp32
tensor.

Usage: python benchmarks/nf4.py [--repeat N] [--size S]

Both sides are timed in the same run, interleaved (ours, bnb, ours, bnb, …) so that a busy machine slows
both alike; the table shows medians and the course's targets (quantize at least 3x, dequantize at least 1x
bitsandbytes' speed), and the floor of any dequantizer: allocating and writing the fp32 output once.
Before timing, the script checks that the outputs are identical (packed bytes, absmax,
dequantized values; the fast path also against course_utils.quant.nf4's reference) and exits 1 if not.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _timing import interleaved_medians  # benchmarks/ is on sys.path when a script runs

from course_utils.quant.nf4 import dequantize_nf4_reference, quantize_nf4_reference
from course_utils.quant.nf4_fast import dequantize_nf4, quantize_nf4

TARGETS = {"quantize": 3.0, "dequantize": 1.0}  # bnb ms / ours ms, at least


def main(argv: list[str] | None = None) -> int:
    """Check bit-exactness, time both implementations, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per implementation (default 7)")
    parser.add_argument("--size", type=int, default=4096, help="the tensor is size×size fp32 (default 4096)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.size < 1:
        parser.error("--repeat and --size must be positive")

    import bitsandbytes
    import bitsandbytes.functional as bnb_f

    blocksize = 64
    x = torch.randn(args.size, args.size, generator=torch.Generator().manual_seed(0))

    packed, absmax = quantize_nf4(x, blocksize)
    bnb_packed, state = bnb_f.quantize_4bit(x, blocksize=blocksize, quant_type="nf4")
    ref_packed, ref_absmax = quantize_nf4_reference(x, blocksize)
    same_q = all(torch.equal(p, bnb_packed) and torch.equal(a, state.absmax)
                 for p, a in ((packed, absmax), (ref_packed, ref_absmax)))
    y = dequantize_nf4(packed, absmax, x.shape, blocksize)
    same_dq = torch.equal(y, bnb_f.dequantize_4bit(bnb_packed, state).reshape(x.shape)) and torch.equal(
        y, dequantize_nf4_reference(packed, absmax, x.shape, blocksize))
    print(f"bit-exact: quantize {same_q}, dequantize {same_dq}")
    if not (same_q and same_dq):
        print("outputs differ from bitsandbytes: not timing", file=sys.stderr)
        return 1

    rows = []
    for name, ours, bnb in (
        ("quantize", lambda: quantize_nf4(x, blocksize),
         lambda: bnb_f.quantize_4bit(x, blocksize=blocksize, quant_type="nf4")),
        ("dequantize", lambda: dequantize_nf4(packed, absmax, x.shape, blocksize),
         lambda: bnb_f.dequantize_4bit(bnb_packed, state)),
    ):
        # the floor any dequantizer pays: allocate the fp32 output and write it once (page faults on first touch)
        calls = {"ours": ours, "bnb": bnb, "floor": lambda: torch.empty(x.numel()).fill_(1.0)}
        ms = interleaved_medians(calls, args.repeat)
        rows.append((name, ms["ours"], ms["bnb"]))
    floor_ms = ms["floor"]
    print(f"{args.size}×{args.size} fp32, NF4 blocksize {blocksize}, median of {args.repeat} runs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), bitsandbytes {bitsandbytes.__version__}")
    print(f"{'':12s}{'ours ms':>10s}{'bnb ms':>10s}{'bnb/ours':>10s}  target")
    for name, ours_ms, bnb_ms in rows:
        ratio, target = bnb_ms / ours_ms, TARGETS[name]
        verdict = "met" if ratio >= target else "MISSED"
        print(f"{name:12s}{ours_ms:10.1f}{bnb_ms:10.1f}{ratio:9.2f}x  >= {target:g}x {verdict}")
    print(f"floor: allocating and writing the {x.numel() * 4 / 2**20:.0f} MiB fp32 output once takes {floor_ms:.1f} ms "
          f"({floor_ms / rows[1][2]:.0%} of bitsandbytes' dequantize)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
