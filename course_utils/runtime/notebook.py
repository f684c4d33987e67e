"""Notebook display helpers: show the tested source of what a notebook teaches."""

from __future__ import annotations

import inspect

from IPython.display import Code


def show_source(obj: object) -> Code:
    """The real source of a function, class or module, as highlighted Python code."""
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"show_source needs a function, class or module defined in Python; got {obj!r}") from err
    return Code(source, language="python")


HEADLINE_MIME = "application/vnd.peft-course.headline+json"


def headline(**numbers: float | str) -> None:
    """Show a notebook's key numbers and tag them so `make run` can put them in its summary."""
    if not numbers:
        raise ValueError("headline needs at least one keyword number, e.g. headline(accuracy=0.91)")
    from IPython.display import display

    text = ", ".join(f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v:,}" if isinstance(v, int)
                     else f"{k}={v}" for k, v in numbers.items())
    display({HEADLINE_MIME: numbers, "text/plain": f"headline: {text}"}, raw=True)
