"""A cache entry's temporary build folder (``.KEY-xxxxxxxx`` beside where it will be renamed to): made
locked, and cleaned away once the process building it is gone.

The building process holds ``flock`` on the folder's ``.building`` file from the moment it makes the
folder until it renames or removes it; the kernel drops that lock when the process ends, however it
ends (kill -9, power cut, out of memory). So a folder whose lock can be taken was left by a process that
no longer exists, and any s2s that starts later removes it; one whose lock is held is a live build (in
this process or another, on this machine or, over a network mount with locks, another) and is never
touched. A lock is only trusted on the file that is still in the folder: the builder checks after
locking that a cleaner has not removed it meanwhile (and makes another folder if one has).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from seq2seq_cli.errors import DataError

LOCK = ".building"  # in a build folder: locked by the process building it
WORK = re.compile(r"\.[0-9a-f]{20}-[a-z0-9_]{8}")  # tempfile.mkdtemp(prefix=".KEY-"): KEY is cache_entry.key's
DISCARDED = ".discarded"  # the suffix of a damaged entry moved aside to be removed: nothing uses it
UNLOCKED_AGE = 24 * 3600  # seconds: a build folder without a lock file (an older s2s, or a builder killed
# before it made one) is removed only when it has not changed for this long


@dataclass
class Work:
    """A build folder and the descriptor that holds its lock (None where locks are not available)."""

    path: Path
    descriptor: int | None

    def release(self) -> None:
        """Let the lock go (after the folder has been renamed into place or removed)."""
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


def start_work(folder: Path) -> Work:
    """A new build folder beside ``folder``, locked by this process until ``release``."""
    for _ in range(100):
        path = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        descriptor = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        locked = _try_lock(descriptor)
        if locked is None:  # no locks on this file system: the age rule alone protects the build
            return Work(path, descriptor)
        if locked and _still_there(descriptor, path / LOCK):
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
            return Work(path, descriptor)
        os.close(descriptor)  # a cleaner took the folder between mkdtemp and the lock: it removes it
    raise DataError(f"{folder.parent}: could not start a build folder there (its lock kept being taken)")


def clean_orphans(root: Path) -> list[Path]:
    """Remove the build folders in ``root`` whose builder is gone, and damaged entries moved aside; the folders removed."""
    if not root.is_dir():
        return []
    removed = []
    for path in root.iterdir():
        if path.name.endswith(DISCARDED) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif WORK.fullmatch(path.name) and path.is_dir() and _remove_if_orphaned(path):
            removed.append(path)
    return removed


def is_live_build(path: Path) -> bool:
    """Whether ``path`` is a build folder that some process is building now (``s2s cache clear`` leaves those)."""
    return bool(WORK.fullmatch(path.name)) and path.is_dir() and _inspect(path, remove=False) is False


def discard(folder: Path) -> None:
    """Move a damaged entry aside (one rename: no reader sees it half removed), then remove it."""
    aside = folder.with_name(f".{folder.name}-{os.getpid()}-{time.monotonic_ns()}{DISCARDED}")
    try:
        folder.rename(aside)
    except FileNotFoundError:
        return  # another process moved it first
    except OSError as exc:
        raise DataError(f"{folder}: damaged, and cannot be moved aside to prepare it again ({exc.strerror})") from None
    shutil.rmtree(aside, ignore_errors=True)


def _remove_if_orphaned(path: Path) -> bool:
    return _inspect(path, remove=True) is True


def _inspect(path: Path, remove: bool) -> bool | None:
    """Whether the build folder ``path`` is orphaned (True: removed too, when asked), live (False) or gone (None).

    Orphaned: its lock could be taken (its builder has ended) on the lock file still in it; without a lock
    file, or on a file system without locks, when it has not changed for ``UNLOCKED_AGE``.
    """
    try:
        descriptor = os.open(path / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        if not path.is_dir():
            return None
        return _removed(path, remove) if not _recent(path) else False  # maybe a builder between mkdtemp and its lock
    except OSError:
        return False
    try:  # the lock is held while removing, so no builder can take the folder back meanwhile
        locked = _try_lock(descriptor)
        if locked is None:
            return _removed(path, remove) if not _recent(path) else False
        return _removed(path, remove) if locked and _still_there(descriptor, path / LOCK) else False
    finally:
        os.close(descriptor)  # closing drops the lock, if this took it


def _removed(path: Path, remove: bool) -> bool:
    """Remove ``path``, its lock file last (a cleaner killed midway leaves a folder the next one can lock)."""
    if not remove:
        return True
    try:
        for child in path.iterdir():
            if child.name == LOCK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        (path / LOCK).unlink(missing_ok=True)
        path.rmdir()
    except OSError:
        return False  # what is left is removed next time
    return True


def _try_lock(descriptor: int) -> bool | None:
    """Take the lock without waiting: True taken, False held by a process, None where there are no locks."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _still_there(descriptor: int, path: Path) -> bool:
    """Whether the locked file is still the one at ``path`` (not removed by a cleaner that held it first)."""
    with contextlib.suppress(OSError):
        here, there = os.fstat(descriptor), os.stat(path)
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
    return False


def _recent(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < UNLOCKED_AGE
    except OSError:
        return True
