"""Deadlines: ``grade ... --due 2026-12-01T23:59:00+09:00 [--submission-times times.csv]``.

Submission times come from a CSV (``student,submitted_at``: the LMS's submission log, ISO 8601 with a time zone)
or, for a Canvas "Download Submissions" folder, from its file names: ``smithbob_LATE_1234_5678_01.ipynb`` says late
(no minutes; Canvas's marker, older versions write ``late``). Each TOTAL row gets ``late`` (``on_time``, ``late``,
``unknown``), ``minutes_late``, ``raw_points`` and the points after the policy's late penalty: a share of the total
per started day late (``late_penalty_per_day``), at most ``max_late_penalty``. Without --due nothing changes.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from course_utils.exercises.variants import normalize_id
from course_utils.grading.rows import TOTAL_ROW, fmt_points

COLUMNS = ("late", "minutes_late", "raw_points")
CANVAS_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<late>LATE_|late_)?(?P<user>\d+)_(?P<attachment>\d+)_")


def canvas_student(file_name: str) -> tuple[str, bool] | None:
    """(student, late) for a file of a Canvas download (``smithbob_LATE_1234_5678_x.ipynb`` -> smithbob_1234)."""
    found = CANVAS_FILE.match(file_name)
    return (f"{found['name']}_{found['user']}", bool(found["late"])) if found else None


def parse_time(text: str, where: str) -> datetime:
    """An ISO 8601 time with a time zone; ValueError naming `where` otherwise."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an ISO 8601 time (e.g. 2026-12-01T23:59:00+09:00)") from None
    if value.tzinfo is None:
        raise ValueError(f"{where}: {text!r} needs a time zone, e.g. +09:00")
    return value


def read_times(path: str | Path) -> dict[str, datetime]:
    """{normalized student: submitted_at} from a CSV with columns student and submitted_at."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--submission-times: no file {path}")
    times = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"student", "submitted_at"} <= set(reader.fieldnames or ()):
            raise ValueError(f"--submission-times {path.name}: needs the columns student, submitted_at")
        for line, row in enumerate(reader, start=2):
            times[normalize_id(row["student"])] = parse_time(row["submitted_at"], f"{path.name} line {line}")
    return times


def apply(rows: Sequence[dict[str, str]], due: datetime, times: Mapping[str, datetime],
          flagged_late: set[str] = frozenset(), per_day: float = 0.0, most: float = 1.0) -> list[dict[str, str]]:
    """`rows` with late, minutes_late, raw_points on each TOTAL row and its points after the late penalty."""
    out = []
    for row in rows:
        row = dict(row)
        if row["question"] == TOTAL_ROW:
            when = times.get(normalize_id(row["student"]))
            raw = float(row["points"] or 0)
            if when is not None:
                minutes = max(0, math.ceil((when - due).total_seconds() / 60))
                status = "late" if minutes > 0 else "on_time"
            else:
                minutes, status = 0, "late" if row["student"] in flagged_late else "unknown"
            days = math.ceil(minutes / 1440) if minutes else (1 if status == "late" else 0)
            penalty = min(most, per_day * days)
            row |= {"late": status, "minutes_late": str(minutes) if when is not None else "",
                    "raw_points": fmt_points(raw), "points": fmt_points(raw * (1 - penalty))}
            if penalty:
                row["detail"] = "; ".join(filter(None, [row["detail"], f"late penalty {penalty:.0%}"]))
        out.append(row)
    return out
