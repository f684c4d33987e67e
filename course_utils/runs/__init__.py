"""Long runs and their stored results: the experiments cache, stored notebook runs and the demo's stored preset
answers, the training command (`accelerate launch -m course_utils.runs.train`), and the GPU check.

May import: every other subpackage.
"""
