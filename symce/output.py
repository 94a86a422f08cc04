"""Where symce writes files: ``-o`` of ``symce latex`` and ``symce export``.

Output is written atomically, so a failed run never leaves half a file behind, and
a refusal (a folder, an unwritable place, a file the command reads) is a
``UsageError`` with the path in it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterable

from .errors import UsageError


def output_target(path: str, reads: Iterable[str] = ()) -> str:
    """The file ``-o path`` will write, refused at once when it cannot be a file.

    A symbolic link is followed, so that the file it names is written and the link
    stays a link. A device or a pipe (``/dev/stdout``) is kept as named: the kernel
    resolves it when it is opened. ``reads`` are the files the command reads: writing
    one of them, by its name, through a symbolic link or as a hard link of it, would
    replace the input with the output, so it is refused.
    """
    if not path or "\0" in path:
        raise UsageError(f"-o: expected a file name, found {path!r}")
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise UsageError(f"{path}: cannot write (it is a folder; give a file name)")
    for read in reads:
        if _same_file(target, read):
            raise UsageError(f"{path}: cannot write the output over {read}, which this command reads")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return target
    return target if stat.S_ISREG(mode) else path


def _same_file(target: str, read: str) -> bool:
    if target == os.path.realpath(read):
        return True
    try:
        return os.path.samefile(target, read)  # a hard link: another name, the same file
    except OSError:
        return False


def write_output(path: str, target: str, text: str) -> None:
    """Write ``text`` to ``target`` so that no reader ever sees half of it.

    A regular file (or a new one) is written beside the target and renamed over it
    once complete, with the permissions the old file had or the umask allows. A
    device or a pipe (``-o /dev/stdout``) cannot be replaced, so it is written in place.
    """
    try:
        if os.path.exists(target) and not os.path.isfile(target):
            _write_in_place(path, target, text)
            return
        if os.path.exists(target):
            mode = stat.S_IMODE(os.stat(target).st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(prefix=".symce-", suffix=".tmp", dir=os.path.dirname(target))
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(tmp, mode)  # mkstemp makes the file 0600
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _write_in_place(path: str, target: str, text: str) -> None:
    """A device or a pipe: opened without waiting, so that a pipe nobody reads is refused, not a hang."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a named pipe with no reader would block for ever
            raise UsageError(f"{path}: cannot write (a named pipe that no process is reading)") from None
        raise
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
