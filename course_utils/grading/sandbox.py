"""Run one submitted notebook in a sandbox, with limits and bounded output (``grade --execute``).

The whole execution of one notebook (nbclient *and* its kernel) is one child, ``python -m
course_utils.grading.sandbox``,
inside bubblewrap (``bwrap``, the sandbox Flatpak uses):

* a fresh, size-limited tmpfs holds the only writable places: the working folder with a copy of that one notebook
  (never the class folder) and a throwaway ``HOME``; nothing of the host is visible except, read-only, the system
  (``/usr``), a few files of ``/etc``, this Python with its packages, and ``course_utils`` with its ``data``/``figs``;
* no network (own network namespace and loopback), own PID namespace (all its processes die with it), no capabilities,
  ``--die-with-parent`` (a killed grader takes its sandboxes along; bwrap's parent is the grader's worker thread,
  alive for the whole run); a root grader's jobs run as unprivileged uids of their own (root ignores RLIMIT_NPROC);
* Linux resource limits (``resource.setrlimit`` in the child, inherited by the kernel): address space
  (``--max-memory-mb``), CPU time, processes, open files, file size; the host kills it at the wall-clock limit.

The child sends back one JSON result through an inherited file descriptor; it stops collecting output past
``max_output_mb`` (a printing loop cannot fill the grader's memory); the host never reads more than that. One child
per notebook keeps the grader simple: it starts a process, waits, and reads a bounded file.
Without bwrap (macOS, no user namespaces) ``unavailable_reason()`` says why; the child then runs unsandboxed
(limits only) only when the instructor asks for it (``--unsafe-execute``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from course_utils.runtime.execute import execute
from course_utils.runtime.paths import PACKAGE

T = TypeVar("T")
R = TypeVar("R")

SANDBOX_UID = 2_000_000_000  # the grader as root: each job runs as sandbox_uid(), unprivileged and its own
SCRATCH = "/tmp"  # inside the sandbox: the only writable tmpfs
STARTUP_S = 60.0  # kernel start-up allowed on top of --timeout before the host kills the sandbox
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts", "mime.types",
             "nsswitch.conf", "hosts", "ssl/certs", "ca-certificates")
PASSED_ENV = ("COURSE_PROFILE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
              "TRANSFORMERS_NO_ADVISORY_WARNINGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
              "LANG", "LC_ALL", "TZ")
STATUSES = {
    "ok": "ran to the end",
    "timeout": "ran longer than --timeout (or its CPU-time limit); records made before that still count",
    "memory_limit": "needed more memory than --max-memory-mb (MemoryError, or the kernel died allocating)",
    "process_limit": "started more processes or threads than --max-processes",
    "output_limit": "printed more than --max-output-mb; output past it was not collected and the run was stopped",
    "kernel_error": "the kernel could not start or died",
    "sandbox_unavailable": "the sandbox could not be set up for this notebook (nothing of it ran)",
}


@dataclass(frozen=True)
class Limits:
    """What one notebook may use: wall time (s), address space, output, processes, open files, file size."""

    timeout: float = 600.0
    max_memory_mb: int = 8192
    max_output_mb: float = 4.0
    max_processes: int = 256
    max_open_files: int = 1024
    max_file_mb: int = 256

    @property
    def cpu_seconds(self) -> int:
        """A CPU-time backstop: every core busy for the whole --timeout, plus start-up."""
        return int(math.ceil(self.timeout + STARTUP_S) * (os.cpu_count() or 1))


@dataclass
class Run:
    """How one execution ended: the executed notebook (None when nothing came back), a status and a detail."""

    notebook: dict | None
    status: str
    detail: str = ""


# ------------------------------------------------------------------------------------------------------------
# Host side: build the sandbox, run the child, read its bounded result
# ------------------------------------------------------------------------------------------------------------


def _ro_paths() -> list[Path]:
    """Host paths the child needs read-only: this Python, its packages, course_utils and its data."""
    import site

    paths = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths.add(Path(os.path.realpath(sys.executable)).parent.parent)
    # site-packages only: never all of sys.path, which may hold the current folder or a test runner's root
    paths |= {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()}
    paths |= {PACKAGE} | {PACKAGE.parent / name for name in ("data", "figs") if (PACKAGE.parent / name).is_dir()}
    paths = {p for p in paths if not any(str(p).startswith(s) for s in ("/usr/", "/etc/", "/proc/", "/dev/"))}
    return sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))


def sandbox_uid(slot: int, pid: int | None = None) -> int:
    """The uid a job runs as under a root grader: its own per (grader process, slot), so process limits stay apart."""
    return SANDBOX_UID + ((os.getpid() if pid is None else pid) % 2**20) * 1024 + slot % 1024


def bwrap_command(limits: Limits, slot: int = 0, extra: tuple[str, ...] = ()) -> list[str]:
    """The bwrap arguments that isolate one child (everything before the child's own command); `extra` before ``--``."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    cmd = [bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
           "--unshare-uts", "--unshare-cgroup-try", "--clearenv", "--ro-bind", "/usr", "/usr"]
    root = os.geteuid() == 0
    if not root:  # an unprivileged caller needs a user namespace; nested ones are refused
        cmd += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            cmd += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            cmd += ["--ro-bind", str(top), str(top)]
    cmd += [arg for name in ETC_FILES if (Path("/etc") / name).exists()
            for arg in ("--ro-bind", f"/etc/{name}", f"/etc/{name}")]
    scratch_bytes = 2 * limits.max_file_mb * 2**20  # first, so that a checkout or venv below /tmp shows through it
    cmd += ["--perms", "1777", "--size", str(scratch_bytes), "--tmpfs", SCRATCH]
    made: set[Path] = set()
    for path in _ro_paths():
        for parent in reversed(path.parents):  # bwrap would make missing parents 0700: unreadable after the uid drop
            if parent != Path("/") and parent not in made:
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--dev", "/dev", "--proc", "/proc", "--perms", "0755", "--dir", "/run", *extra, "--remount-ro", "/",
            "--chdir", SCRATCH]
    # MALLOC_ARENA_MAX: fewer malloc arenas, less address space per thread under RLIMIT_AS
    env = {**{k: os.environ[k] for k in PASSED_ENV if k in os.environ}, "HOME": f"{SCRATCH}/home",
           "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(PACKAGE.parent), "USER": "student",
           "LOGNAME": "student", "MALLOC_ARENA_MAX": "2", "COURSE_SANDBOX": str(os.getpid())}
    cmd += [*(arg for key, value in env.items() for arg in ("--setenv", key, value)), "--"]
    if root:  # drop root for good: an unprivileged uid of this job's own, no capabilities, no groups
        uid = str(sandbox_uid(slot))
        cmd += [shutil.which("setpriv") or "/usr/bin/setpriv", "--reuid", uid, "--regid", uid, "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all"]
    return cmd


@lru_cache(maxsize=1)
def unavailable_reason() -> str:
    """Empty when sandboxed execution works here; otherwise one line that says why not."""
    if not sys.platform.startswith("linux"):
        return f"no sandbox on {sys.platform}: bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing: needed to drop root inside the sandbox"
    probe = subprocess.run([*bwrap_command(Limits()), sys.executable, "-c", "import course_utils"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines() or [f"exit status {probe.returncode}"]
        return f"bwrap cannot start a sandbox here ({lines[-1][:160]}); are user namespaces disabled?"
    return ""


def in_slots(work: Callable[[T, int], R], items: Sequence[T], jobs: int = 1) -> list[R]:
    """``work(item, slot)`` for every item, at most `jobs` at once, each call with a slot in 0..jobs-1 of its own."""
    local, counter = threading.local(), itertools.count()  # each worker thread takes the next slot when it starts
    with ThreadPoolExecutor(max_workers=jobs, initializer=lambda: setattr(local, "slot", next(counter))) as pool:
        return list(pool.map(lambda item: work(item, local.slot), items))


def _tail(path: Path, size: int = 4000) -> str:
    """The last `size` bytes of a log file as text."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left: the child's descendants (unsandboxed, the kernel has a session of its own), its process
    group (sandboxed: bwrap, whose end ends the sandbox's PID namespace); then reap it."""
    try:
        import psutil

        family = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing, or the child is gone: the process group is killed anyway
        psutil, family = None, []
    for member in family:
        with contextlib.suppress(Exception):
            member.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if psutil is not None:
        psutil.wait_procs(family, timeout=10)  # gone for good before the run counts as over


def run_notebook(nb: dict, name: str, limits: Limits, sandbox: bool = True, slot: int = 0) -> Run:
    """Execute `nb` (saved as `name`) from scratch in its own sandbox; never raises for what the notebook does."""
    host = Path(tempfile.mkdtemp(prefix="grade-run-"))
    source, result, log = host / "notebook.ipynb", host / "result.json", host / "log.txt"
    result_fd = os.open(result, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        source.write_text(json.dumps(nb), encoding="utf-8")
        source.chmod(0o644)  # readable by the sandbox's own uid
        child = ["-m", "course_utils.grading.sandbox", "--limits", json.dumps(asdict(limits)),
                 "--name", Path(name).name,
                 "--result-fd", str(result_fd)]
        if sandbox:
            bind = ("--ro-bind", str(source), "/run/notebook.ipynb")
            cmd = [*bwrap_command(limits, slot, bind), sys.executable, *child, "--source", bind[-1]]
            env, cwd = None, None
        else:
            (host / "home").mkdir()
            env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
            env |= {"HOME": str(host / "home"), "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PACKAGE.parent),
                    "MALLOC_ARENA_MAX": "2", "COURSE_SANDBOX": str(os.getpid())}
            cmd, cwd = [sys.executable, *child, "--source", str(source)], host
        with log.open("wb") as log_handle:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
                                    pass_fds=(result_fd,), start_new_session=True, env=env, cwd=cwd)
        try:
            proc.wait(timeout=limits.timeout + STARTUP_S)
            killed = False
        except subprocess.TimeoutExpired:
            killed = True
        _kill_group(proc)
        return _read_result(result, log, proc.returncode, killed, len(json.dumps(nb)), limits, sandbox)
    finally:
        os.close(result_fd)
        shutil.rmtree(host, ignore_errors=True)


def _read_result(result: Path, log: Path, code: int, killed: bool, source_bytes: int, limits: Limits,
                 sandbox: bool) -> Run:
    """The child's result, read only up to the output limit (plus the notebook itself)."""
    if killed:
        return Run(None, "timeout", f"stopped after --timeout {limits.timeout:g} s (+{STARTUP_S:g} s start-up)")
    cap = source_bytes + int(limits.max_output_mb * 2**20) + 2**20
    size = result.stat().st_size
    if size > cap:
        return Run(None, "output_limit", f"result of {size:,} bytes > --max-output-mb {limits.max_output_mb:g}")
    if size:
        try:
            data = json.loads(result.read_bytes())
            return Run(data["notebook"], data["status"], data["detail"])
        except (ValueError, KeyError, TypeError):
            pass
    tail = _tail(log)
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        return Run(None, "memory_limit", f"the runner ran out of memory (--max-memory-mb {limits.max_memory_mb})")
    if sandbox and "bwrap:" in tail:
        line = [x for x in tail.splitlines() if "bwrap:" in x][-1]
        return Run(None, "sandbox_unavailable", line.strip()[:200])
    last = tail.strip().splitlines()[-1][:160] if tail.strip() else ""
    return Run(None, "kernel_error", f"the notebook runner ended with status {code}" + (f": {last}" if last else ""))


# ------------------------------------------------------------------------------------------------------------
# Child side: inside the sandbox, set the limits, run the notebook with nbclient, write one JSON result
# ------------------------------------------------------------------------------------------------------------


def _set_limits(limits: Limits) -> None:
    """Resource limits for this process and everything it starts (the kernel, the student's subprocesses)."""
    import resource

    mb = 2**20
    wanted = {"RLIMIT_AS": limits.max_memory_mb * mb, "RLIMIT_CPU": limits.cpu_seconds,
              "RLIMIT_NPROC": limits.max_processes, "RLIMIT_NOFILE": limits.max_open_files,
              "RLIMIT_FSIZE": limits.max_file_mb * mb, "RLIMIT_CORE": 0}
    for name, value in wanted.items():
        with contextlib.suppress(ValueError, OSError, TypeError):  # macOS refuses some; the sandbox is Linux-only
            kind = getattr(resource, name, None)
            hard = resource.getrlimit(kind)[1]
            resource.setrlimit(kind, (value, value) if hard == resource.RLIM_INFINITY else (min(value, hard),) * 2)


def _diagnose(nb: dict, limits: Limits) -> tuple[str, str]:
    """(status, detail) when a cell's error shows a limit was hit: memory or processes; else ("", "")."""
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") != "error":
                continue
            text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
            if out.get("ename") == "MemoryError" or "allocate memory" in text:
                return "memory_limit", f"cell {index}: {text[:80]} (--max-memory-mb {limits.max_memory_mb})"
            if out.get("ename") == "BlockingIOError" or "Resource temporarily unavailable" in text:
                return "process_limit", f"cell {index}: {text[:80]} (--max-processes {limits.max_processes})"
    return "", ""


def _kernel_end(code: int | None, limits: Limits) -> tuple[str, str]:
    """(status, detail) for a kernel that died, from its exit status."""
    if code is not None and code < 0:
        sig = signal.Signals(-code)
        if sig == signal.SIGXCPU:
            return "timeout", f"CPU time limit {limits.cpu_seconds} s reached (SIGXCPU)"
        if sig == signal.SIGXFSZ:
            return "kernel_error", f"file size limit {limits.max_file_mb} MB reached (SIGXFSZ)"
        return "kernel_error", f"kernel died ({sig.name})"
    return "kernel_error", f"kernel died (exit status {code})"


def _child(argv: list[str]) -> int:
    """``python -m course_utils.grading.sandbox``: run one notebook in a fresh folder and write the result to a fd."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.sandbox")
    for flag in ("--limits", "--name", "--result-fd", "--source"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    limits = Limits(**json.loads(args.limits))
    out = os.fdopen(int(args.result_fd), "w", encoding="utf-8")
    _set_limits(limits)
    home = Path(os.environ.get("HOME", ".")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    work = Path.cwd() / "work"
    work.mkdir(exist_ok=True)
    os.chdir(work)
    shutil.copyfile(args.source, work / args.name)  # the one notebook, in a folder of its own

    sys.modules.setdefault("rfc3987_syntax", None)  # jsonschema builds an IRI grammar on import (seconds); unused
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    node = nbformat.read(args.source, as_version=4)  # joins list sources, upgrades old 4.x layouts
    for cell in node.cells:  # grade only what this run produces, never stale saved outputs
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    deadline = time.monotonic() + limits.timeout

    def finish(status: str, detail: str) -> None:
        """Write the one result (the first call wins) and close it."""
        if not out.closed:
            out.write(json.dumps({"notebook": node, "status": status, "detail": detail}))
            out.close()

    class BoundedClient(NotebookClient):
        """nbclient that stops at max_output_mb of output: past it, nothing more is kept and the run ends."""

        collected = 0
        started: list = []  # this run's one client, once made

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.started.append(self)

        def output(self, outs: list, msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
            """Count the output's bytes; past the limit write what we have and end the run here."""
            self.collected += len(json.dumps(msg.get("content", {}), default=str))
            if self.collected > limits.max_output_mb * 2**20:
                finish("output_limit", f"output past --max-output-mb {limits.max_output_mb:g} was not collected; "
                                       f"run stopped in cell {cell_index}")
                pgid = getattr(getattr(self.km, "provisioner", None), "pgid", None)
                if pgid:
                    os.killpg(pgid, signal.SIGKILL)
                os._exit(0)
            return super().output(outs, msg, display_id, cell_index)

    def remember_kernel(**_: Any) -> None:
        """Keep the kernel's process, to read how it ended."""
        client = BoundedClient.started[0]
        client.process = getattr(getattr(client.km, "provisioner", None), "process", None)

    status, detail = "ok", ""
    try:
        # the kernel's own fds 1 and 2 (a student's os.write(1, ...)) go nowhere: cell output comes over iopub
        execute(node, work, client_class=BoundedClient, allow_errors=True, startup_timeout=int(STARTUP_S),
                timeout_func=lambda cell: max(1, math.ceil(deadline - time.monotonic())),
                on_notebook_start=remember_kernel,
                kernel_options={"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL})
    except CellTimeoutError:
        status, detail = "timeout", f"stopped after --timeout {limits.timeout:g} s"
    except DeadKernelError:
        process = getattr(BoundedClient.started[0], "process", None) if BoundedClient.started else None
        status, detail = _kernel_end(process.poll() if process else None, limits)
    except MemoryError:
        status, detail = "memory_limit", f"the runner ran out of memory (--max-memory-mb {limits.max_memory_mb})"
    except Exception as err:  # noqa: BLE001 - a student's notebook must never stop the grading run
        status, detail = "kernel_error", f"{type(err).__name__}: {err}"[:200]
    if status in ("ok", "kernel_error"):
        status, detail = _diagnose(node, limits) if _diagnose(node, limits)[0] else (status, detail)
    finish(status, detail)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
