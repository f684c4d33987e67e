"""Checkpoint questions. `engine` (checkpoints, registry), `kinds` (question kinds) and `variants` are the
engine and never import content; the content modules (`sections_2_4`, `sections_5_7`) register their questions
with the engine; `catalog` imports the content in lecture order and is what needs all questions imports.

May import: course_utils.runtime (engine); the engine and the teaching subpackages (content).
"""
