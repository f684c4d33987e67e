"""Adapters taught from scratch: LoRA, DoRA, their peft interop and analysis, SVD energy, parameter counts,
and the rules by which peft/transformers pick the layers they adapt and quantize.

May import: course_utils.runtime.
"""
