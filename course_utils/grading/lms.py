"""Grades an LMS imports: ``grade ... --roster ROSTER.csv --lms canvas|moodle``.

The roster is the LMS's own export: a Canvas gradebook CSV (``Student, ID, [SIS User ID], SIS Login ID, ...,
Section``; the ``Points Possible`` row is skipped) or a Moodle grade/participants export (``First name``,
``Last name`` or ``Surname``, ``ID number``, ``Email address``, ``Username``). Each submission (a class folder's
student) is matched to one roster entry by its folder name, the STUDENT_ID in its records, or an e-mail, and by the
names in an LMS download (Canvas ``smithbob_LATE_1234_5678_file``, Moodle ``Full name_42_assignsubmission_file_``);
every key is compared NFC-normalised, trimmed and case-folded (Korean names from a macOS zip match).

Written files (header rules from the LMSs' source, see docs/instructors.md):

* Canvas: ``Student,ID,SIS User ID,SIS Login ID,Section,<title> (<assignment id>)`` then the ``"    Points
  Possible"`` row; UTF-8; the title may not contain Current/Final Score/Points/Grade/Override (Canvas drops such
  columns); without an assignment id the import creates a new assignment.
* Moodle: one identifier column (``Email address``, else ``ID number``, else ``Username``), the grade column and its
  feedback column (Moodle overwrites grades when feedback is imported, so both are mapped together).

Beside it ``<name>_unmatched.csv`` lists submissions without a roster entry and roster students without a
submission (Moodle aborts a whole import on one unknown identifier: only matched students are written).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.exercises.variants import normalize_id
from course_utils.grading.rows import TOTAL_ROW

KINDS = ("canvas", "moodle")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_DROPPED = ("Current", "Final Score", "Points", "Grade", "Override")  # Canvas ignores such columns on import
POINTS_POSSIBLE = "    Points Possible"
MOODLE_IDS = ("Email address", "ID number", "Username")
CANVAS_FILE = re.compile(r"^(?P<name>[^_]+)_(?:LATE_|late_)?(?P<user>\d+)(?:_(?P<attachment>\d+)_|$)")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_")


@dataclass
class Entry:
    """One roster student: the row as read and every key it can be matched by."""

    row: dict[str, str]
    keys: set[str] = field(default_factory=set)
    label: str = ""


def _key(value: object) -> str | None:
    try:
        return normalize_id(str(value)) if str(value).strip() else None
    except (TypeError, ValueError):
        return None


def _canvas_file_name(sortable: str) -> str:
    """The name Canvas gives a download ("Smith, Bob" -> "smithbob")."""
    return re.sub(r"\W", "", sortable.lower())


def read_roster(path: str | Path) -> tuple[str, list[Entry]]:
    """(format, entries) of a Canvas or Moodle roster CSV (comma, semicolon or tab separated; a BOM is fine)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--roster: no file {path}")
    text = path.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
    rows = list(csv.DictReader(io.StringIO(text), dialect=dialect))
    header = [h.strip() for h in (rows[0].keys() if rows else [])]
    entries = []
    if "Student" in header and "ID" in header:
        for row in rows:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if row["Student"].startswith("Points Possible") or not row["ID"]:
                continue
            name = row["Student"]
            first_last = " ".join(reversed([p.strip() for p in name.split(",", 1)])) if "," in name else name
            keys = {row.get(c, "") for c in ("ID", "SIS User ID", "SIS Login ID")} | {name, first_last,
                                                                                      _canvas_file_name(name)}
            entries.append(Entry(row, {k for k in map(_key, keys) if k}, name))
        return "canvas", entries
    if any(c in header for c in MOODLE_IDS):
        for row in rows:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            first, last = row.get("First name", ""), row.get("Last name", row.get("Surname", ""))
            full = " ".join(filter(None, [first, last]))
            keys = {row.get(c, "") for c in MOODLE_IDS} | {full, f"{last}{first}", f"{last} {first}"}
            email = row.get("Email address", "")
            keys |= {email.split("@")[0]} if "@" in email else set()
            entries.append(Entry(row, {k for k in map(_key, keys) if k}, full or email))
        return "moodle", entries
    raise ValueError(f"--roster {path.name}: neither a Canvas gradebook export (Student, ID, ...) nor a Moodle export "
                     f"({', '.join(MOODLE_IDS)}); header: {header}")


def submission_keys(student: str, claimed: Sequence[str] = ()) -> set[str]:
    """Every key a submission can match by: its folder name, the ids in its records, the LMS download's parts."""
    raw = {student, *claimed}
    canvas, moodle = CANVAS_FILE.match(student), MOODLE_FOLDER.match(student)
    if canvas:
        raw |= {canvas["name"], canvas["user"]}
    if moodle:
        raw.add(moodle["name"])
    return {k for k in map(_key, raw) if k}


def match(students: Mapping[str, Sequence[str]], entries: list[Entry]
          ) -> tuple[dict[str, Entry], list[tuple[str, str]], list[Entry]]:
    """(student -> entry, [(unmatched student, why)], roster entries without a submission)."""
    matched: dict[str, Entry] = {}
    unmatched = []
    for student, claimed in sorted(students.items()):
        keys = submission_keys(student, claimed)
        found = [e for e in entries if e.keys & keys]
        if len(found) == 1 and all(matched_entry is not found[0] for matched_entry in matched.values()):
            matched[student] = found[0]
        else:
            why = ("no roster entry" if not found else f"{len(found)} roster entries match" if len(found) > 1
                   else f"roster entry {found[0].label!r} already matched")
            unmatched.append((student, why))
    used = {id(e) for e in matched.values()}
    return matched, unmatched, [e for e in entries if id(e) not in used]


def _check_title(title: str) -> None:
    dropped = [w for w in CANVAS_DROPPED if w.lower() in title.lower()]
    if not title.strip():
        raise ValueError("--assignment-title must not be empty")
    if dropped:
        raise ValueError(f"--assignment-title {title!r}: Canvas drops a column whose name contains {dropped}; "
                         "choose another title")


def export(rows: Sequence[dict[str, str]], roster: str | Path, kind: str, out: str | Path, title: str,
           assignment_id: int = 0, claimed: Mapping[str, Sequence[str]] | None = None,
           comments: Mapping[str, str] | None = None) -> tuple[Path, Path, int, int]:
    """Write the LMS import file and the unmatched list; returns (file, unmatched file, matched, unmatched)."""
    if kind not in KINDS:
        raise ValueError(f"--lms must be one of {', '.join(KINDS)}, got {kind!r}")
    fmt, entries = read_roster(roster)
    if fmt != kind:
        raise ValueError(f"--roster is a {fmt} export but --lms is {kind}: give the roster of the LMS you import into")
    totals = {r["student"]: r for r in rows if r["question"] == TOTAL_ROW}
    matched, unmatched, absent = match({s: list((claimed or {}).get(s, ())) for s in totals}, entries)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if kind == "canvas":
        _check_title(title)
        column = f"{title} ({assignment_id})" if assignment_id else title
        maximum = next(iter(totals.values()))["max_points"] if totals else ""
        writer.writerow([*CANVAS_IDENTITY, column])
        writer.writerow([POINTS_POSSIBLE, "", "", "", "", maximum])
        for student, entry in sorted(matched.items(), key=lambda se: se[1].label):
            writer.writerow([entry.row.get(c, "") for c in CANVAS_IDENTITY] + [totals[student]["points"]])
    else:
        ident = next((c for c in MOODLE_IDS if any(e.row.get(c) for e in entries)), MOODLE_IDS[0])
        writer.writerow([ident, title, f"{title} feedback"])
        for student, entry in sorted(matched.items(), key=lambda se: se[1].label):
            total = totals[student]
            note = f"합계 {total['points']}/{total['max_points']}점. " + (comments or {}).get(student, "")
            writer.writerow([entry.row.get(ident, ""), total["points"], note.strip()])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(buffer.getvalue(), encoding="utf-8")
    missing = out.with_name(f"{out.stem}_unmatched.csv")
    lines = io.StringIO()
    report = csv.writer(lines, lineterminator="\n")
    report.writerow(["kind", "who", "detail"])
    report.writerows(("submission_without_roster_entry", s, why) for s, why in unmatched)
    report.writerows(("roster_student_without_submission", e.label, "") for e in absent)
    missing.write_text(lines.getvalue(), encoding="utf-8-sig")
    return out, missing, len(matched), len(unmatched)


def export_graded(rows: Sequence[dict[str, str]], results: Sequence, roster: str | Path, kind: str, out: str | Path,
                  title: str, assignment_id: int = 0) -> tuple[int, int]:
    """export() with the STUDENT_IDs of each submission's records and the instructor's comments as feedback."""
    claimed: dict[str, list[str]] = {}
    for r in results:
        claimed.setdefault(r.submission.student, []).extend(
            str(rec["student"]) for rec in r.records if isinstance(rec.get("student"), (str, int)))
    comments: dict[str, str] = {}
    for r in rows:
        if r["status"] == "reviewed" and r["feedback"]:
            comments[r["student"]] = f"{comments.get(r['student'], '')} [{r['question']}] {r['feedback']}".strip()
    _, _, hits, misses = export(rows, roster, kind, out, title, assignment_id, claimed, comments)
    return hits, misses
