"""Training memory: the estimator, the measured tensor inventory, sharding across GPUs, and their figures.

May import: course_utils.runtime, adapters, quant.
"""
