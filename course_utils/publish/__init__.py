"""Publishing the course: editions, release, slides, Colab rewriting, the bundle, the figure build, and the one
notebook runner every command uses.

May import: every subpackage except runs.
"""
