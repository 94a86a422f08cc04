"""Run jobs under a hard wall-clock limit: each in a forked child, killed at its deadline.

SymPy cannot be interrupted reliably from inside (a ``simplify`` may sit in C-level
big-integer arithmetic, and ``SIGALRM`` only fires between bytecodes of the main
thread), so a step that must stop *is* stopped: its process is killed. ``fork``
is cheap once SymPy is imported -- the child shares the parent's pages -- and lets
several steps run side by side on a multi-core machine. Where ``fork`` does not
exist the jobs run in this process without a limit, and say so.

>>> run_limited([lambda: 6 * 7, lambda: 1 // 0], timeout=5)
[('ok', 42), ('error', 'ZeroDivisionError: integer division or modulo by zero')]
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Any

HAS_FORK = hasattr(os, "fork")
_MAX_WAIT = 3600.0  # seconds one select() may block before the deadlines are looked at again


def run_limited(jobs: list[Callable[[], Any]], *, timeout: float, parallel: int = 1,
                memory_mb: float | None = None) -> list[tuple[str, Any]]:
    """Run each job, at most ``parallel`` at a time; return ``(status, value)`` in order.

    ``status`` is ``"ok"`` (value is the job's picklable result), ``"error"`` (value is
    the exception as text) or ``"timeout"`` (value is the limit in seconds).
    ``memory_mb``: each child may grow its address space by at most this much beyond
    what it inherits; past it an allocation fails (status ``"error"``, a MemoryError).
    """
    if not HAS_FORK:
        return [_inline(job) for job in jobs]
    results: list[tuple[str, Any] | None] = [None] * len(jobs)
    pending = list(enumerate(jobs))
    running: dict[int, list] = {}  # read fd -> [index, pid, deadline, received bytes]
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                index, job = pending.pop(0)
                fd, pid = _spawn(job, memory_mb)
                running[fd] = [index, pid, time.monotonic() + timeout, bytearray()]
            wait = min(r[2] for r in running.values()) - time.monotonic()
            # Capped: select() raises OverflowError for an infinite or huge timeout; the
            # loop simply waits again, so a limit of inf means no limit.
            ready, _, _ = select.select(list(running), [], [], min(max(0.0, wait), _MAX_WAIT))
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    running[fd][3] += chunk
                    continue
                index, pid, _, data = running.pop(fd)
                os.close(fd)
                os.waitpid(pid, 0)
                results[index] = _decode(bytes(data))
            now = time.monotonic()
            for fd in [fd for fd, r in running.items() if r[2] <= now]:
                index, pid, _, _ = running.pop(fd)
                _kill(pid, fd)
                results[index] = ("timeout", timeout)
    finally:
        for fd, (_, pid, _, _) in running.items():  # interrupted: leave no child behind
            _kill(pid, fd)
    return results  # type: ignore[return-value]


def _inline(job: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", job())
    except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
        return ("error", f"{type(exc).__name__}: {exc}")


def _spawn(job: Callable[[], Any], memory_mb: float | None = None) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, vanish without running the parent's cleanup
        code = 0
        try:
            os.close(read_fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            payload = pickle.dumps(_inline(job if memory_mb is None else partial(_limited, job, memory_mb)))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return read_fd, pid


def _limited(job: Callable[[], Any], memory_mb: float) -> Any:
    _limit_memory(memory_mb)
    return job()


def _limit_memory(memory_mb: float) -> None:
    """Cap this process's address space at its present size plus ``memory_mb`` MiB."""
    import resource

    try:
        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        now = 0
    cap = now + int(memory_mb * 2**20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _decode(data: bytes) -> tuple[str, Any]:
    if not data:
        return ("error", "the worker process died without an answer")
    try:
        return pickle.loads(data)
    except Exception as exc:  # noqa: BLE001
        return ("error", f"unreadable answer from the worker ({exc})")


def _kill(pid: int, fd: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    os.close(fd)
