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
import struct
import time
from collections import deque
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


# --- long-lived workers -------------------------------------------------------

def run_in_workers(jobs: list[Callable[[], Any]], *, timeout: float, workers: int = 1,
                   memory_mb: float | None = None) -> list[tuple[str, Any]]:
    """Like ``run_limited``, but each of at most ``workers`` forked processes runs many jobs in turn.

    A fork per job gives every job a cold start: the child copies the parent's pages as
    it touches them (tens of milliseconds for a process that holds SymPy), and whatever
    one job computed (SymPy's cache, a cache of meanings) is lost to the next. Here each
    worker starts on a contiguous share of the jobs (neighbouring steps share
    expressions), sends each result as soon as it has it and is handed the next job,
    taking one from the longest share once its own is done. Every job still has its own
    deadline, counted from when it was handed out: a worker past it is killed, that job
    is a timeout, and a fresh worker takes over the rest of its share.

    >>> run_in_workers([lambda: 6 * 7, lambda: 1 // 0, lambda: "x"], timeout=5, workers=2)
    [('ok', 42), ('error', 'ZeroDivisionError: integer division or modulo by zero'), ('ok', 'x')]
    """
    if memory_mb is not None:  # each job may add at most memory_mb MiB to what its worker holds
        jobs = [partial(_limited, job, memory_mb) for job in jobs]
    if not HAS_FORK or not jobs:
        return [_inline(job) for job in jobs]
    results: list[tuple[str, Any] | None] = [None] * len(jobs)
    count = max(1, min(workers, len(jobs)))
    shares = [deque(range(len(jobs) * w // count, len(jobs) * (w + 1) // count)) for w in range(count)]
    running: dict[int, _Worker] = {}  # result fd -> worker
    try:
        for share in shares:
            _hand_out(_Worker.start(jobs, share, running), shares, running, timeout)
        while running:
            wait = min(w.deadline for w in running.values()) - time.monotonic()
            ready, _, _ = select.select(list(running), [], [], min(max(0.0, wait), _MAX_WAIT))
            for fd in ready:
                worker = running[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:  # the worker died between or inside jobs
                    results[worker.index] = ("error", "the worker process died without an answer")
                    _replace(worker, jobs, shares, running, timeout)
                    continue
                worker.received += chunk
                outcome = worker.take_result()
                if outcome is not None:
                    results[worker.index] = outcome
                    _hand_out(worker, shares, running, timeout)
            now = time.monotonic()
            for worker in [w for w in running.values() if w.deadline <= now]:
                results[worker.index] = ("timeout", timeout)
                _replace(worker, jobs, shares, running, timeout)
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
    def start(cls, jobs, share: deque, running: dict) -> _Worker:
        command_r, command_w = os.pipe()
        answer_r, answer_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: serve jobs until told to stop, then vanish without cleanup
            code = 0
            try:
                for other in running.values():  # siblings' pipes: holding them would hide an EOF
                    os.close(other.commands)
                    os.close(other.answers)
                os.close(command_w)
                os.close(answer_r)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _serve(jobs, command_r, answer_w)
            except BaseException:  # noqa: BLE001 - nothing may escape a forked child
                code = 1
            finally:
                os._exit(code)
        os.close(command_r)
        os.close(answer_w)
        worker = cls(pid, command_w, answer_r, share)
        running[answer_r] = worker
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


def _serve(jobs, commands: int, answers: int) -> None:
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
        outcome = _inline(jobs[index])
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


def _replace(worker: _Worker, jobs, shares: list[deque], running: dict, timeout: float) -> None:
    """Kill ``worker``; a fresh one takes over what is left, if anything is."""
    del running[worker.answers]
    worker.stop(kill=True)
    if any(shares):
        _hand_out(_Worker.start(jobs, worker.share, running), shares, running, timeout)
