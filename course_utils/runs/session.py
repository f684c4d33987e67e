"""A notebook's first call: the runtime setup, plus the demo profile's stored preset answers.

:func:`setup` is :func:`course_utils.runtime.env.setup` (profile, seeds, Korean plots, one printed line); in the
demo profile it also installs the stored preset answers (:mod:`course_utils.runs.preset_answers`) as the answer
source of the servable estimators, so the teaching code never knows about the demo.
"""

from __future__ import annotations

from course_utils.runs import preset_answers
from course_utils.runtime import answers
from course_utils.runtime.env import Profile
from course_utils.runtime.env import setup as runtime_setup


def setup(profile: str | None = None, seed: int = 42) -> Profile:
    """Notebook start: detect the profile, seed everything, set up Korean plots, print one line (and, in the demo
    profile, serve the stored preset answers)."""
    chosen = runtime_setup(profile, seed)
    if chosen.name == "demo":
        preset_answers.install()
    else:
        answers.uninstall()
    return chosen
