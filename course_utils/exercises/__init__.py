"""Checkpoint questions.

The engine (`engine`: question base class, verdicts, records, the registry, `checkpoint`; `kinds`: the question kinds;
`variants`: per-student numbers) never imports content. The content modules (`s2` … `s7` per lecture section,
`extras` for the notebooks' own questions, `why` for the written follow-ups; shared answer helpers in `computed`)
register their questions with the engine when imported; `catalog` imports them in lecture order, and whoever needs
every question imports the catalog.

May import: course_utils.runtime (engine); the engine and the teaching subpackages (content).
"""
