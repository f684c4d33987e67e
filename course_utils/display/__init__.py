"""Interactive widgets and diagrams shown in the notebooks.

May import: course_utils.runtime, adapters, quant, memory, comparison.
"""
