"""Writing files without ever losing one: a temporary file in the same folder, flushed and
synced, then renamed over the target with :func:`os.replace`.

A full disk, a file-size limit, Ctrl-C or a crash while writing leave the old file as it was
and no partial file beside it. Every file convdemo writes (pictures, ``.npy``, models, lab
state files, lessons, GIFs) goes through :func:`atomic_write`.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["WriteError", "atomic_write", "same_file", "why"]

#: reasons in words, for the errors a user can meet while writing
_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than this system allows (a file-size limit)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the disk is read-only",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "an input/output error on the disk",
}


class WriteError(OSError):
    """A file could not be written; ``str()`` names the file and the reason in words."""

    def __str__(self) -> str:  # OSError's own str() would add "[Errno 28]"
        return self.args[0] if self.args else "cannot write the file"


def why(exc: BaseException) -> str:
    """The reason behind an OSError in words ("the disk is full"), for a message."""
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically: ``write(fh)`` fills a temporary file, which then replaces it.

    Parameters
    ----------
    path : str or Path
        The file to create or replace. Its folder is created if missing.
    write : callable
        Called once with a binary file object open for writing.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    WriteError
        Writing failed (the message names the file and the reason); the old file, if any,
        is untouched and no temporary file is left behind.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {why(exc)}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():  # keep the permissions the user gave the old file
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {path}: {why(exc)}") from exc
        raise
    return path


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (``./x.png``, a symlink, a hard link)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.resolve() == pb.resolve():
            return True
    except OSError:
        pass
    try:
        return os.path.samefile(pa, pb)
    except OSError:
        return False
