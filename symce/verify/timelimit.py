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
import struct
import time
from collections import deque
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


def _isolate(parent: int, keep: int | tuple, timeout: float, memory_mb: float | None) -> None:
    """In a fresh worker: die with the parent, hold none of its descriptors, cap memory and CPU.

    ``keep`` is the worker's own pipe (or pipes), left open even if one is numbered 0-2.
    """
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    keep = keep if isinstance(keep, tuple) else (keep,)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # a caller's pipe (symce check F | head) must close when symce exits
        if fd not in keep and fd != null:
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


# --- long-lived workers -------------------------------------------------------

def run_in_workers(jobs: list[Callable[[], Any]], *, timeout: float, workers: int = 1,
                   memory_mb: float | None = DEFAULT_MEMORY_MB) -> list[tuple[str, Any]]:
    """Like ``run_limited``, but each of at most ``workers`` forked processes runs many jobs in turn.

    A fork per job gives every job a cold start: the child copies the parent's pages as
    it touches them (tens of milliseconds for a process that holds SymPy), and whatever
    one job computed (SymPy's cache, a cache of meanings) is lost to the next. Here each
    worker starts on a contiguous share of the jobs (neighbouring steps share
    expressions), sends each result as soon as it has it and is handed the next job,
    taking one from the longest share once its own is done. Every job still has its own
    deadline, counted from when it was handed out: a worker past it is killed, that job
    is a timeout, and a fresh worker takes over the rest of its share. Each worker is
    isolated as ``run_limited``'s are (memory capped at ``memory_mb`` beyond what it
    inherits, killed with the parent, none of the caller's descriptors held).

    >>> run_in_workers([lambda: 6 * 7, lambda: 1 // 0, lambda: "x"], timeout=5, workers=2)
    [('ok', 42), ('error', 'ZeroDivisionError: integer division or modulo by zero'), ('ok', 'x')]
    """
    if not HAS_FORK or not jobs:
        return [_inline(job) for job in jobs]
    results: list[tuple[str, Any] | None] = [None] * len(jobs)
    count = max(1, min(workers, len(jobs)))
    shares = [deque(range(len(jobs) * w // count, len(jobs) * (w + 1) // count)) for w in range(count)]
    running: dict[int, _Worker] = {}  # result fd -> worker
    limits = (timeout, memory_mb, len(jobs))
    try:
        for share in shares:
            _hand_out(_Worker.start(jobs, share, running, limits), shares, running, timeout)
        while running:
            wait = min(w.deadline for w in running.values()) - time.monotonic()
            ready, _, _ = select.select(list(running), [], [], min(max(0.0, wait), _MAX_WAIT))
            for fd in ready:
                worker = running[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:  # the worker died between or inside jobs
                    results[worker.index] = ("error", "the worker process died without an answer")
                    _replace(worker, jobs, shares, running, limits)
                    continue
                worker.received += chunk
                outcome = worker.take_result()
                if outcome is not None:
                    results[worker.index] = outcome
                    _hand_out(worker, shares, running, timeout)
            now = time.monotonic()
            for worker in [w for w in running.values() if w.deadline <= now]:
                results[worker.index] = ("timeout", timeout)
                _replace(worker, jobs, shares, running, limits)
    finally:
        for worker in list(running.values()):  # interrupted: leave no child behind
            worker.stop(kill=True)
    return results  # type: ignore[return-value]


class _Worker:
    """One forked process running jobs by index: indices in on one pipe, framed results out on another."""

    def __init__(self, pid: int, commands: int, answers: int, share: deque):
        self.pid, self.commands, self.answers, self.share = pid, commands, answers, share
        self.index: int = -1  # the job it is running
        self.deadline = float("inf")
        self.received = bytearray()

    @classmethod
    def start(cls, jobs, share: deque, running: dict, limits: tuple) -> _Worker:
        """Fork a worker; ``limits`` is (timeout per job, memory_mb, number of jobs)."""
        timeout, memory_mb, count = limits
        command_r, command_w = os.pipe()
        answer_r, answer_w = os.pipe()
        parent = os.getpid()
        held = _hold_signals()  # a SIGTERM now is handled once the worker is in the table
        try:
            pid = os.fork()
            if pid == 0:  # the child: serve jobs until told to stop, then vanish without cleanup
                code = 0
                try:
                    for other in running.values():  # siblings' pipes: holding them would hide an EOF
                        os.close(other.commands)
                        os.close(other.answers)
                    os.close(command_w)
                    os.close(answer_r)
                    for sig in _HELD:
                        signal.signal(sig, signal.SIG_DFL)
                    _release_signals(held)
                    # The CPU backstop covers every job the worker could be handed.
                    _isolate(parent, (command_r, answer_w), timeout * count, memory_mb)
                    _serve(jobs, command_r, answer_w, memory_mb)
                except BaseException:  # noqa: BLE001 - nothing may escape a forked child
                    code = 1
                finally:
                    os._exit(code)
            os.close(command_r)
            os.close(answer_w)
            worker = cls(pid, command_w, answer_r, share)
            running[answer_r] = worker
        finally:
            _release_signals(held)
        return worker

    def take_result(self) -> tuple[str, Any] | None:
        """The answer to the running job once all of its bytes are in, else None."""
        if len(self.received) < _FRAME.size:
            return None
        (size,) = _FRAME.unpack_from(self.received)
        if len(self.received) < _FRAME.size + size:
            return None
        data = bytes(self.received[_FRAME.size:_FRAME.size + size])
        del self.received[:_FRAME.size + size]
        return _decode(data)

    def run(self, index: int, timeout: float) -> None:
        self.index, self.deadline = index, time.monotonic() + timeout
        os.write(self.commands, _INDEX.pack(index))

    def stop(self, kill: bool) -> None:
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            try:
                os.write(self.commands, _INDEX.pack(-1))
            except OSError:  # already gone; waitpid reaps it
                pass
        os.waitpid(self.pid, 0)
        os.close(self.commands)
        os.close(self.answers)


_INDEX = struct.Struct("!q")  # a job index, parent to worker; -1 asks the worker to exit
_FRAME = struct.Struct("!Q")  # the byte length of the pickled answer that follows


def _serve(jobs, commands: int, answers: int, memory_mb: float | None = None) -> None:
    while True:
        data = b""
        while len(data) < _INDEX.size:
            chunk = os.read(commands, _INDEX.size - len(data))
            if not chunk:
                return
            data += chunk
        (index,) = _INDEX.unpack(data)
        if index < 0:
            return
        outcome = _inline(jobs[index], memory_mb)
        try:
            payload = pickle.dumps(outcome)
        except Exception as exc:  # noqa: BLE001 - an answer the parent can read, not a dead worker
            payload = pickle.dumps(("error", f"unpicklable answer ({type(exc).__name__}: {exc})"))
        view = memoryview(_FRAME.pack(len(payload)) + payload)
        while view:
            view = view[os.write(answers, view):]


def _hand_out(worker: _Worker, shares: list[deque], running: dict, timeout: float) -> None:
    """Give ``worker`` its next job: from its own share, else the last of the longest share."""
    source = worker.share if worker.share else max(shares, key=len)
    if not source:
        del running[worker.answers]
        worker.stop(kill=False)
        return
    worker.run(source.popleft() if source is worker.share else source.pop(), timeout)


def _replace(worker: _Worker, jobs, shares: list[deque], running: dict, limits: tuple) -> None:
    """Kill ``worker``; a fresh one takes over what is left, if anything is."""
    del running[worker.answers]
    worker.stop(kill=True)
    if any(shares):
        _hand_out(_Worker.start(jobs, worker.share, running, limits), shares, running, limits[0])
