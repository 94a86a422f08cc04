"""Run jobs under hard limits: each in a forked child, killed at its deadline, its memory capped.

SymPy cannot be interrupted reliably from inside (a ``simplify`` may sit in C-level
big-integer arithmetic, and ``SIGALRM`` only fires between bytecodes of the main
thread), so a step that must stop *is* stopped: its process is killed. ``fork``
is cheap once SymPy is imported -- the child shares the parent's pages -- and lets
several steps run side by side on a multi-core machine. Where ``fork`` does not
exist the jobs run in this process without a limit, and say so.

A worker may also not grow without bound: its address space is capped
(``RLIMIT_AS``) at what it inherited plus ``memory_mb``, so a step that needs more
meets ``MemoryError`` and is reported, instead of the machine swapping. A worker
cannot outlive symce: it is killed with its parent (``PR_SET_PDEATHSIG`` on Linux,
and a CPU-time limit everywhere as a backstop), it holds none of the caller's
descriptors (stdin, stdout and stderr are ``/dev/null`` in it), and SIGTERM or
SIGHUP reaching symce (``Terminated``, raised by ``cli.main``'s handlers) ends the
loop below, whose ``finally`` kills and reaps every worker still running.

>>> run_limited([lambda: 6 * 7, lambda: 1 // 0], timeout=5)
[('ok', 42), ('error', 'ZeroDivisionError: integer division or modulo by zero')]
"""

from __future__ import annotations

import math
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

HAS_FORK = hasattr(os, "fork")
DEFAULT_MEMORY_MB = 2048  # address space a worker may add to what it inherits (symce check --memory)
_MAX_WAIT = 3600.0  # seconds one select() may block before the deadlines are looked at again
# Held back while a worker is forked and entered in the table, so that none is missed by the cleanup.
_HELD = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())


def run_limited(jobs: list[Callable[[], Any]], *, timeout: float, parallel: int = 1,
                memory_mb: float | None = DEFAULT_MEMORY_MB) -> list[tuple[str, Any]]:
    """Run each job, at most ``parallel`` at a time; return ``(status, value)`` in order.

    ``status`` is ``"ok"`` (value is the job's picklable result), ``"error"`` (value is
    the exception as text: ``MemoryError: memory limit of 2048 MB reached`` for a job
    that needed more than ``memory_mb`` megabytes; None means no limit) or
    ``"timeout"`` (value is the limit in seconds).
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
                held = _hold_signals()
                try:
                    fd, pid = _spawn(job, timeout, memory_mb, held)
                    running[fd] = [index, pid, time.monotonic() + timeout, bytearray()]
                finally:
                    _release_signals(held)
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
                _, status = os.waitpid(pid, 0)
                results[index] = _decode(bytes(data), status)
            now = time.monotonic()
            for fd in [fd for fd, r in running.items() if r[2] <= now]:
                index, pid, _, _ = running.pop(fd)
                _kill(pid, fd)
                results[index] = ("timeout", timeout)
    finally:
        for fd, (_, pid, _, _) in running.items():  # interrupted: leave no child behind
            _kill(pid, fd)
    return results  # type: ignore[return-value]


def _inline(job: Callable[[], Any], memory_mb: float | None = None) -> tuple[str, Any]:
    try:
        return ("ok", job())
    except MemoryError:
        return ("error", f"MemoryError: memory limit of {memory_mb:g} MB reached" if memory_mb
                else "MemoryError: out of memory")
    except Exception as exc:  # noqa: BLE001 - reported, never swallowed silently
        return ("error", f"{type(exc).__name__}: {exc}")


def _hold_signals() -> set | None:
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)


def _release_signals(previous: set | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _spawn(job: Callable[[], Any], timeout: float, memory_mb: float | None,
           held: set | None) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, vanish without running the parent's cleanup
        code = 0
        try:
            os.close(read_fd)
            for sig in _HELD:
                signal.signal(sig, signal.SIG_DFL)
            _release_signals(held)
            _isolate(parent, write_fd, timeout, memory_mb)
            payload = pickle.dumps(_inline(job, memory_mb))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return read_fd, pid


def _isolate(parent: int, write_fd: int, timeout: float, memory_mb: float | None) -> None:
    """In a fresh worker: die with the parent, hold none of its descriptors, cap memory and CPU."""
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # a caller's pipe (symce check F | head) must close when symce exits
        if fd not in (write_fd, null):
            os.dup2(null, fd)
    if null > 2:
        os.close(null)
    try:
        import resource
    except ImportError:  # not on this platform: the parent's deadline still holds
        return
    if math.isfinite(timeout):  # a backstop should the parent vanish without a trace
        cpu = int(timeout) + 5
        _set_limit(resource, resource.RLIMIT_CPU, cpu)
    if memory_mb and hasattr(resource, "RLIMIT_AS"):
        _set_limit(resource, resource.RLIMIT_AS, _address_space() + int(memory_mb * 2**20))


def _set_limit(resource, which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value if hard == resource.RLIM_INFINITY else hard))


def _address_space() -> int:
    """Bytes of address space this process holds now (what a worker inherits from symce)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 1 << 30  # unknown: assume a gigabyte is already mapped


_PRCTL = None


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the parent exits (PR_SET_PDEATHSIG)."""
    global _PRCTL
    if _PRCTL is None:
        return
    try:
        _PRCTL(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - a backstop only; the CPU limit remains
        pass


def _load_prctl() -> None:
    """Found once, in the parent, so that a fork does not repeat the lookup."""
    global _PRCTL
    try:
        import ctypes

        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        _PRCTL = None


if HAS_FORK and os.uname().sysname == "Linux":
    _load_prctl()


def _decode(data: bytes, status: int = 0) -> tuple[str, Any]:
    if not data:
        if os.WIFSIGNALED(status):
            how = f"killed by signal {os.WTERMSIG(status)}"
        else:
            how = f"exit status {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"
        return ("error", f"the worker process died without an answer ({how})")
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
