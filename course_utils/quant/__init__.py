"""4-bit NormalFloat quantization: the NF4 reference, its fast path, and the quantization study.

May import: course_utils.runtime.
"""
