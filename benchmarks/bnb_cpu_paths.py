"""What the course gives up by keeping 4-bit layers on bitsandbytes' portable CPU path: inference time, both paths.

Usage: python benchmarks/bnb_cpu_paths.py [--repeat N] [--threads T] [--batch B]

The bundled MiniLM-L6 classifier loaded in 4-bit (NF4 + double quantization, fp32 compute) twice: once as the
course loads it (``load_classifier_4bit`` → portable path) and once with bitsandbytes' default, which on a CPU with
AVX512-BF16 repacks every layer on its first eval forward and runs the packed bf16 kernel. One timed call is an eval
forward (no grad) of B reviews × 32 tokens; calls are interleaved, medians printed, with the ratio and how many of the
B predictions agree. On a CPU without AVX512-BF16 there is only one path: the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _timing import interleaved_medians  # benchmarks/ is on sys.path when a script runs

from course_utils.runtime import bnb_cpu, models
from course_utils.runtime.env import offline_model_path
from course_utils.runtime.quiet import silence_library_noise


def load(portable: bool):
    """The 4-bit classifier, on the portable path or (portable=False) on bitsandbytes' default."""
    keep = models.use_portable_path
    if not portable:
        models.use_portable_path = lambda model: 0
    try:
        torch.manual_seed(0)  # the same fresh head in both
        return models.load_classifier_4bit(offline_model_path()).eval()
    finally:
        models.use_portable_path = keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    silence_library_noise()
    if not bnb_cpu.packed_path_available():
        print("this CPU has no AVX512-BF16: bitsandbytes has only the portable path here, nothing to compare")
        return 0
    torch.set_num_threads(args.threads)
    portable, packed = load(True), load(False)
    tokenizer = models.load_tokenizer(offline_model_path())
    batch = tokenizer(["a quiet film that stays with you long after the credits roll"] * args.batch,
                      padding="max_length", max_length=32, truncation=True, return_tensors="pt")

    def run(model):
        with torch.no_grad():
            return model(**batch).logits

    medians = interleaved_medians({"portable (course)": lambda: run(portable),
                                   "packed (bitsandbytes default)": lambda: run(packed)}, args.repeat)
    agree = int((run(portable).argmax(-1) == run(packed).argmax(-1)).sum())
    for name, ms in medians.items():
        print(f"{name:32s} {ms:8.1f} ms per batch of {args.batch}")
    ratio = medians["portable (course)"] / medians["packed (bitsandbytes default)"]
    print(f"portable / packed: {ratio:.2f}x   same prediction on {agree} of {args.batch}   "
          f"(threads {args.threads}, median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
