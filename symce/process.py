"""symce as a process: signals, standard streams that are closed or go away, one-line messages.

The command line (``cli``) runs every command inside these: SIGTERM and SIGHUP unwind
symce (its workers are ended on the way) to exit 128 + n, a closed descriptor 0-2 is
held by /dev/null so no worker's pipe can take its number, and a reader that goes
away ends symce quietly, as SIGPIPE would.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["Terminated", "on_signals", "shown", "say", "hold_stdio", "pipe_closed"]


class Terminated(BaseException):
    """SIGTERM or SIGHUP reached symce: unwind (workers are killed on the way) and exit 128 + n."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):  # noqa: ARG001 - the signal module's handler signature
    raise Terminated(signum)


def on_signals() -> dict:
    """Install the SIGTERM/SIGHUP handlers (main thread only); returns the ones replaced."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _terminate)
        except ValueError:  # not the main thread: the default action stays
            pass
    return previous


def shown(text: str) -> str:
    r"""``text`` on one line and inert on a terminal: a newline, an escape sequence or a
    bidirectional override (in a file name, say) is shown as its Python escape.

    >>> shown("bad\nname\x1b[31m.toml")
    'bad\\nname\\x1b[31m.toml'
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def say(message: str) -> None:
    """One line on stderr; a stderr that is gone must not turn a verdict into a traceback."""
    try:
        print(shown(message), file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def hold_stdio() -> None:
    """Descriptors 0-2 closed by the caller (``symce check F >&-``): hold them with /dev/null.

    Otherwise the next file opened takes the number 1, and a forked worker's pipe or
    the file being written could receive what was meant for stdout. Python has then
    set ``sys.stdout`` to None: output goes nowhere, as with ``>/dev/null``.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def pipe_closed(status: int) -> int:
    """The reader of stdout went away: stop quietly, as a program killed by SIGPIPE would."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # the flush at exit must not fail again
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
    return status
