"""Where symce writes files: ``-o`` of ``symce latex`` and ``symce export``.

Output is written atomically, so a failed run never leaves half a file behind, and
a refusal (a folder, an unwritable place) is a ``UsageError`` with the path in it.
"""

from __future__ import annotations

import os
import stat
import tempfile

from .errors import UsageError


def output_target(path: str) -> str:
    """The file ``-o path`` will write, refused at once when it cannot be a file.

    A symbolic link is followed, so that the file it names is written and the link
    stays a link.
    """
    if not path:
        raise UsageError(f"-o: expected a file name, found {path!r}")
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise UsageError(f"{path}: cannot write (it is a folder; give a file name)")
    return target


def write_output(path: str, target: str, text: str) -> None:
    """Write ``text`` to ``target`` so that no reader ever sees half of it.

    A regular file (or a new one) is written beside the target and renamed over it
    once complete, with the permissions the old file had or the umask allows. A
    device or a pipe (``-o /dev/stdout``) cannot be replaced, so it is written in place.
    """
    try:
        if os.path.exists(target) and not os.path.isfile(target):
            with open(target, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
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
