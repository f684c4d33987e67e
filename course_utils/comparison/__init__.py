"""The method comparison: methods with their budgets and learning rates (one table), the runner, results and
statistics, the selection guide, and figures.

May import: course_utils.runtime, adapters, quant, memory.
"""
