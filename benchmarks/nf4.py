"""NF4 quantize / dequantize: course_utils.nf4 against bitsandbytes' CPU kernels, on one 4096×4096 fp32 tensor.

Usage: python benchmarks/nf4.py [--repeat N] [--size S]

Both sides are timed in the same run, interleaved (ours, bnb, ours, bnb, …) so that a busy machine slows
both alike; the table shows medians. Before timing, the script checks that the outputs are identical
(packed bytes, absmax, dequantized values) and exits 1 if not.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _timing import interleaved_medians  # benchmarks/ is on sys.path when a script runs

from course_utils.nf4 import dequantize_nf4, quantize_nf4


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
    same_q = torch.equal(packed, bnb_packed) and torch.equal(absmax, state.absmax)
    y = dequantize_nf4(packed, absmax, x.shape, blocksize)
    same_dq = torch.equal(y, bnb_f.dequantize_4bit(bnb_packed, state).reshape(x.shape))
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
        ms = interleaved_medians({"ours": ours, "bnb": bnb}, args.repeat)
        rows.append((name, ms["ours"], ms["bnb"]))
    print(f"{args.size}×{args.size} fp32, NF4 blocksize {blocksize}, median of {args.repeat} runs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), bitsandbytes {bitsandbytes.__version__}")
    print(f"{'':12s}{'ours ms':>10s}{'bnb ms':>10s}{'bnb/ours':>10s}")
    for name, ours_ms, bnb_ms in rows:
        print(f"{name:12s}{ours_ms:10.1f}{bnb_ms:10.1f}{bnb_ms / ours_ms:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
