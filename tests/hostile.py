"""Shared harness of the attack tests: run symce under hard limits and look at what it left behind.

Each attack runs bounded, so that a regression shows as a failing test, never as a hung
test run: in-process attacks in a forked worker of ``run_limited`` (symce's own limiter:
killed at its deadline, address space capped), command-line attacks in a subprocess
with a timeout and ``RLIMIT_AS``. The bounds are hang and leak detectors, far above the
expected cost; nothing asserts on speed.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from symce.verify.timelimit import run_limited

ROOT = Path(__file__).resolve().parent.parent
HANG = 60.0  # seconds after which an attack counts as a hang
MEMORY_MB = 1024  # address space an attack may add: far above what symce needs, far below the machine
EXIT_CODES = {0, 1, 2, 141}  # held, did not hold, malformed input, reader gone; never 3


def bounded(job, *, seconds: float = HANG, memory_mb: float = MEMORY_MB):
    """``job()`` in a forked worker with a deadline and a memory cap; its result, or AssertionError."""
    [(status, value)] = run_limited([job], timeout=seconds, memory_mb=memory_mb)
    assert status == "ok", f"{status}: {value}"
    return value


def _limit_memory(close_stdout: bool = False) -> None:
    """In the child before it runs Python: cap its address space (symce and its workers)."""
    limit = (MEMORY_MB + 2048) * 2**20  # an interpreter with SymPy maps about 1 GB; then the cap
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if close_stdout:
        os.close(1)


def symce(*args: str, cwd: Path | None = None, stdout=subprocess.PIPE, seconds: float = HANG,
          close_stdout: bool = False) -> subprocess.CompletedProcess:
    """The console command, as a user runs it, in a subprocess bounded in time and memory.

    ``RLIMIT_AS`` is inherited: it bounds symce and each of its workers, every one of which
    is also capped by symce's own ``--memory``.
    """
    run = subprocess.run([sys.executable, "-m", "symce", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=seconds,
                         preexec_fn=lambda: _limit_memory(close_stdout))
    assert "Traceback" not in run.stderr, run.stderr
    assert "internal error" not in run.stderr, run.stderr
    assert run.returncode in EXIT_CODES, (run.returncode, run.stderr)
    assert run.stderr.count("\n") <= 1, run.stderr  # one line, or nothing
    return run


def descendants(pid: int) -> list[int]:
    """Live (not zombie) processes whose ancestry reaches ``pid``, from /proc."""
    parents, states = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            states[int(entry)], parents[int(entry)] = fields[0], int(fields[1])
    out, frontier = [], {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier}
        out += [p for p in frontier if states[p] != "Z"]
    return out


def wait_for_worker(proc: subprocess.Popen, seconds: float = HANG) -> list[int]:
    """The workers of a running ``symce check``, once at least one exists."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = descendants(proc.pid)
        if found:
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no worker was started")


def gone(pids: list[int], seconds: float = 10.0) -> bool:
    """Whether every one of ``pids`` has ended (a zombie has ended: it only awaits its reaper)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()
                 and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its content: to show that an attack wrote nothing else."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_fifo() else b"")
            for p in sorted(folder.rglob("*"))}


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
