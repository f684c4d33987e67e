"""Where and how the course runs: the profile and every environment variable (`env`, the one module that reads
them), library noise (`quiet`), argument validation (`validate`), plotting (`plots`) and notebook display
(`notebook`: `show_source`, `headline`), model presets (`presets`), models, data, the training loop (`training`),
the repository paths (`paths`, the one ROOT), units (`units`), JSON and library versions (`io`), the one notebook
executor (`execute`), the command-line parser (`cli`) and the stored-answer seam (`answers`).

May import: libraries only (no other course_utils subpackage).
"""
