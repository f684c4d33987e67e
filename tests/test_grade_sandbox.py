"""`grade --execute` against hostile notebooks: each ends in its own row with a status, the class folder, HOME and
the network stay untouched, no process of a sandbox outlives the run, and the grader's own memory stays bounded."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.grading import grade, sandbox

ROOT = Path(__file__).resolve().parent.parent
ALICE = ROOT / "tests" / "fixtures" / "grading" / "submissions" / "alice" / "01_lora_math.ipynb"
NEEDS_SANDBOX = pytest.mark.skipif(bool(sandbox.unavailable_reason()),
                                   reason=f"no sandbox here: {sandbox.unavailable_reason()} (CI installs bubblewrap)")
# The grader alone (the sandboxes are other processes): about 220 MB with the CPU torch wheel, nearly all of it torch,
# which re-judging the honest student's answers imports (about 500 MB with PyPI's CUDA build of torch, which
# `make test-python` installs). Output is bounded in the sandbox: a class of only the flood, memory, fork and kill
# notebooks leaves the grader at about 17 MB. So the bound is what importing torch and the grader costs here, plus
# a margin the hostile class must not eat into.
GROWTH_MB = 80
HOSTILE = {  # student -> cells; {victim}, {home}, {home_file} and {port} are filled in by the test
    "reader": ["print(open({victim!r}).read()[:100])", "print(open('../victim/01_lora_math.ipynb').read()[:100])",
               "import os; print(os.listdir('/'), os.listdir({home!r}))"],
    "writer": ["open({victim!r}, 'w').write('overwritten')", "open('../victim/01_lora_math.ipynb', 'w').write('x')"],
    "homewriter": ["open({home_file!r}, 'w').write('overwritten')",
                   "import os; open(os.path.expanduser('~/.bashrc'), 'w').write('echo hi')  # the throwaway HOME"],
    "network": ["import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"],
    "memory": ["x = bytearray(8 * 2**30)"],
    "forker": ["""import os, time
pids = []
for _ in range(500):
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    pids.append(pid)"""],
    "flood": ["while True:\n    print('x' * 10_000)"],
    "diskfiller": ["block = b'x' * 2**26\nfor n in range(100):\n    open(f'fill{{n}}', 'wb').write(block)"],
    "looper": ["while True:\n    pass"],
    "killer": ["import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
}
# no checkpoint record in the first five: "no_answers", with the errors that stopped them in the detail
EXPECTED = {"reader": "no_answers", "writer": "no_answers", "homewriter": "no_answers", "network": "no_answers",
            "diskfiller": "no_answers", "memory": "memory_limit", "forker": "process_limit", "flood": "output_limit",
            "looper": "timeout", "killer": "kernel_error", "victim": "ok"}


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file below `folder` with the SHA-256 of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sandbox_processes(grader_pid: int) -> list[psutil.Process]:
    """Live processes of the sandboxes one grader started: their uids (a root grader) or COURSE_SANDBOX=its pid."""
    uids = range(sandbox.sandbox_uid(0, grader_pid), sandbox.sandbox_uid(1023, grader_pid) + 1)
    found = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"].real in uids or proc.environ().get("COURSE_SANDBOX") == str(grader_pid):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def write_notebook(path: Path, sources: list[str]) -> None:
    """A tiny notebook with these code cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def run_grader(args: list[str | Path], env: dict[str, str] | None, timeout: float = 300) -> dict:
    """The grader in a child process: its exit status, stdout, stderr, pid and own peak RSS in MB."""
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into ru_maxrss across exec (pytest's, here)
    code = textwrap.dedent("""
        import re, sys
        from course_utils.grading import grade
        status = grade.main(sys.argv[1:])
        with open("/proc/self/status") as handle:
            print("PEAK_RSS_KB", re.search(r"VmHWM:\\s+(\\d+) kB", handle.read()).group(1))
        sys.exit(status)
    """)
    with subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
        stdout, stderr = proc.communicate(timeout=timeout)
    peaks = [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("PEAK_RSS_KB")]
    return {"code": proc.returncode, "stdout": stdout, "stderr": stderr, "pid": proc.pid,
            "peak_mb": peaks[0] // 1024 if peaks else -1}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> dict:
    """One --execute --jobs 2 run over a class of hostile notebooks and one honest student."""
    if sandbox.unavailable_reason():
        pytest.skip(f"no sandbox here: {sandbox.unavailable_reason()}")
    base = tmp_path_factory.mktemp("hostile")
    folder, home, tmp = base / "class", base / "home", base / "tmp"
    for path in (home / ".ssh", tmp):
        path.mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY\n", encoding="utf-8")
    victim = folder / "victim" / "01_lora_math.ipynb"
    victim.parent.mkdir(parents=True)
    shutil.copy(ALICE, victim)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0)
    values = {"victim": str(victim), "home": str(home), "home_file": str(home / ".ssh" / "id_ed25519"),
              "port": listener.getsockname()[1]}
    for student, cells in HOSTILE.items():
        write_notebook(folder / student / "01_lora_math.ipynb", [cell.format(**values) for cell in cells])
    before = {"class": tree_digest(folder), "home": tree_digest(home)}
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    out = base / "grades.csv"
    try:
        grader = run_grader([folder, "--execute", "--jobs", "2", "--timeout", "25", "--max-output-mb", "1",
                             "--out", out], env)
        try:
            connection = listener.accept()[0]
            connection.close()
            connected = True
        except BlockingIOError:
            connected = False
    finally:
        listener.close()
    assert grader["code"] == 0, grader["stderr"]
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"rows": rows, "before": before, "folder": folder, "home": home, "tmp": tmp, "connected": connected,
            "grader": grader}


def file_rows(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The (file) row of each student."""
    return {r["student"]: r for r in rows if r["question"] == grade.FILE_ROW}


@NEEDS_SANDBOX
def test_each_hostile_notebook_ends_in_its_own_row_with_its_status(hostile_run):
    files = file_rows(hostile_run["rows"])
    details = {student: row["detail"] for student, row in files.items()}
    assert {student: row["status"] for student, row in files.items()} == EXPECTED, details
    assert "FileNotFoundError" in files["reader"]["detail"]  # neither the classmate nor the real HOME is there
    assert "OSError" in files["writer"]["detail"] or "FileNotFoundError" in files["writer"]["detail"]
    assert files["homewriter"]["detail"] == "errors in cell 0: FileNotFoundError"  # ~/.bashrc: the throwaway HOME
    assert "ConnectionRefusedError" in files["network"]["detail"] or "OSError" in files["network"]["detail"]
    assert "--max-memory-mb" in files["memory"]["detail"] and "--max-processes 256" in files["forker"]["detail"]
    assert "--max-output-mb 1" in files["flood"]["detail"] and "--timeout 25" in files["looper"]["detail"]
    assert "SIGKILL" in files["killer"]["detail"] and files["diskfiller"]["detail"] == "errors in cell 0: OSError"


@NEEDS_SANDBOX
def test_the_rest_of_the_class_is_graded_as_if_the_hostile_ones_were_not_there(hostile_run):
    rows = {(r["student"], r["question"]): r for r in hostile_run["rows"]}
    assert rows["victim", "s2_q2"]["verdict"] == "correct" and rows["victim", "TOTAL"]["points"] == "2"


@NEEDS_SANDBOX
def test_the_class_folder_home_and_network_are_untouched(hostile_run):
    assert tree_digest(hostile_run["folder"]) == hostile_run["before"]["class"]
    assert tree_digest(hostile_run["home"]) == hostile_run["before"]["home"]
    assert not hostile_run["connected"]
    assert list(hostile_run["tmp"].iterdir()) == []  # each run's temporary folder is gone too


@NEEDS_SANDBOX
def test_no_sandbox_process_outlives_the_run(hostile_run):
    assert sandbox_processes(hostile_run["grader"]["pid"]) == []


def import_peak_mb() -> int:
    """Peak RSS (MB) of a fresh interpreter that imports torch and the grader, and nothing else."""
    code = ("import re, torch, course_utils.grading.grade\n"
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return int(done.stdout.split()[-1]) // 1024


@NEEDS_SANDBOX
def test_the_graders_own_memory_stays_bounded(hostile_run):
    assert 0 < hostile_run["grader"]["peak_mb"] < import_peak_mb() + GROWTH_MB, hostile_run["grader"]["stdout"]


@NEEDS_SANDBOX
def test_a_sandbox_past_its_wall_clock_limit_is_killed_with_everything_in_it(monkeypatch):
    monkeypatch.setattr(sandbox, "STARTUP_S", 0.0)  # the host kills it at --timeout, before the kernel has started
    nb = new_notebook(cells=[new_code_cell("import time; time.sleep(60)")])
    run = sandbox.run_notebook(nb, "slow.ipynb", sandbox.Limits(timeout=2))
    assert (run.notebook, run.status) == (None, "timeout") and "--timeout 2 s" in run.detail
    assert sandbox_processes(os.getpid()) == []


@NEEDS_SANDBOX
def test_a_killed_grader_leaves_no_sandbox_behind(tmp_path):
    write_notebook(tmp_path / "class" / "looper" / "01.ipynb", HOSTILE["looper"])
    cmd = [sys.executable, "-m", "course_utils", "grade", tmp_path / "class", "--execute",
           "--out", tmp_path / "g.csv"]
    (tmp_path / "tmp").mkdir()  # a SIGKILLed grader cannot remove its run folder: keep it in the test's own
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    grader = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(sandbox_processes(grader.pid)) < 2 and time.monotonic() < deadline:  # the runner and its kernel
            time.sleep(0.2)
        assert len(sandbox_processes(grader.pid)) >= 2, "the kernel never started"
    finally:
        grader.kill()  # SIGKILL: no clean-up code of the grader runs
        grader.wait()
    deadline = time.monotonic() + 20
    while sandbox_processes(grader.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes(grader.pid) == []


def test_without_a_sandbox_execute_refuses_in_one_line_unless_unsafe(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bubblewrap (bwrap) is not installed")
    folder = tmp_path / "class"
    write_notebook(folder / "amy" / "01.ipynb", ["print('hi')"])
    out = tmp_path / "grades.csv"
    assert grade.main([str(folder), "--execute", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bwrap" in err and "--unsafe-execute" in err and not out.exists()
    submission = grade.Submission("amy", folder / "amy" / "01.ipynb", "amy/01.ipynb")
    result = grade.read_submission(submission, execute=True)  # a library caller gets a row, never student code run
    assert (result.status, result.detail) == ("sandbox_unavailable", "bubblewrap (bwrap) is not installed")
    assert grade.main([str(folder), "--unsafe-execute", "--timeout", "60", "--out", str(out)]) == 0
    assert file_rows(list(csv.DictReader(out.open(encoding="utf-8-sig"))))["amy"]["status"] == "no_answers"
    assert sandbox_processes(os.getpid()) == []


def test_limit_options_are_checked_and_documented(capsys):
    with pytest.raises(SystemExit) as stop:
        grade.main(["x", "--execute", "--jobs", "0", "--out", "y.csv"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--jobs" in err and "must be > 0" in err
    assert set(sandbox.STATUSES) - {"ok"} <= set(grade.FILE_STATUSES)
    text = grade._parser().format_help()
    for option in ("--timeout", "--max-memory-mb", "--max-output-mb", "--jobs", "--unsafe-execute"):
        assert option in text


def test_the_sandbox_binds_no_class_folder_home_or_repository_root():
    cmd = sandbox.bwrap_command(sandbox.Limits())
    bound = {cmd[i + 1] for i, arg in enumerate(cmd) if arg in ("--bind", "--ro-bind")}
    assert "--bind" not in cmd and "--unshare-net" in cmd and "--die-with-parent" in cmd
    assert str(ROOT) not in bound and str(ROOT / "tests") not in bound and str(Path.home()) not in bound
    assert str(ROOT / "course_utils") in bound
