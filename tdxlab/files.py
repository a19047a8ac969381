"""Writing output files atomically: a reader (a browser reloading a picture, a build that picks up a page,
another tdxlab) sees the old file or the whole new one, never a torn one.

:func:`atomic_write` writes to a temporary file beside the target and renames it over the target. A target
that exists and is not a regular file (``/dev/stdout``, a FIFO) is written directly: a rename would replace
the device. A path that cannot be written for a reason the user can fix (no such directory, no permission,
a directory in the way) is :class:`tdxlab.errors.BadInput`; any other failure (a full disk) is the OSError
itself, which the command line reports in one line with exit status 4.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from tdxlab.errors import BadInput
from tdxlab.inputs import printable

_USER_FIXABLE = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS,
                 errno.ENAMETOOLONG, errno.ELOOP}


def atomic_write(path: "str | os.PathLike", data: "str | bytes") -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically and return the path."""
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(p))
            with open(p, "wb") as f:
                f.write(raw)
            return p
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, (mode & 0o7777) if mode is not None else 0o666 & ~umask)
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as e:
        if e.errno in _USER_FIXABLE:
            raise BadInput(f"cannot write {printable(p)}: {e.strerror or e}") from None
        raise
    return p
