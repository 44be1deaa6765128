"""The writers of every process on one SQLite file, served in turn.

Inside a process, writers queue in arrival order (`portal.db.FifoLock`). A node served by
several worker processes has one such queue in each, and SQLite's own lock between them
is taken through its busy handler: a waiter sleeps and tries again, 1, 2, 5 ... up to
100 ms at a time, so under load one process's writers could keep the lock while the
other's slept. Here the head of each process's queue takes a lock on a file beside the
database before SQLite's, and the processes take turns at it.

Two byte-range locks on that file (POSIX record locks: held by the process, never
inherited by a child, released when the process ends, however it ends):

- the turnstile (byte 0), taken first and let go as soon as the write lock is held;
- the write lock (byte 1), held until the transaction commits or rolls back.

A process whose writer just let go cannot take the write lock again while another
process's writer waits for it: that writer holds the turnstile, which the next writer
must pass first. Waits poll the lock (50 µs, doubling, at most 0.25 ms between tries), so a
wait has a limit, like every other wait for the database.

A record lock belongs to the process, not to a thread or a descriptor: one queue per file
in a process (`of`), which lets one thread at a time through, even should two engines of
one process write to the same file (each engine's own queue lets one writer through).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time

log = logging.getLogger("portal")

_TURNSTILE, _WRITE = 0, 1  # the bytes locked
_FIRST_PAUSE, _LONGEST_PAUSE = 0.00005, 0.00025
_HELD_ELSEWHERE = (errno.EACCES, errno.EAGAIN)


_QUEUES: dict[str, ProcessQueue] = {}
_QUEUES_LOCK = threading.Lock()


class ProcessQueue:
    @classmethod
    def of(cls, path: str, *, like: str | None = None) -> ProcessQueue:
        """This process's queue for the lock file at `path` (made on first use). `like`:
        the database file, whose mode (and, made by root, owner) the lock file takes, as
        SQLite's -wal and -shm do: a command run by another user must not leave a file
        the server's workers cannot open."""
        key = os.path.realpath(path)
        with _QUEUES_LOCK:
            if key not in _QUEUES:
                _QUEUES[key] = cls(key, like=like)
            return _QUEUES[key]

    def __init__(self, path: str, *, like: str | None = None) -> None:
        self.path = path
        self.like = like
        self._fd: int | None = None
        self._mine = threading.Lock()  # the one thread of this process at the file
        self._warned = False

    def acquire(self, timeout: float) -> bool:
        """True once this process holds the write lock; False when `timeout` seconds
        passed first (nothing is then held)."""
        deadline = time.monotonic() + timeout
        if not self._mine.acquire(timeout=max(timeout, 0.0)):
            return False
        held = False
        try:
            held = self._take_turn(deadline)
        finally:
            if not held:  # timed out, or failed: nothing of this process stays held
                self._mine.release()
        return held

    def _take_turn(self, deadline: float) -> bool:
        try:
            fd = self._file()
            if not _take(fd, _TURNSTILE, deadline):
                return False
            try:
                return _take(fd, _WRITE, deadline)
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, _TURNSTILE)
        except OSError as error:
            # The file cannot be used (a read-only folder, another user's file, no record
            # locks on this file system, no descriptor left): SQLite's own lock still keeps
            # the processes' writers apart, as before this queue; only their turns are lost.
            if not self._warned:
                self._warned = True
                log.warning(
                    "the writers' lock file %s cannot be used (%s): the processes' writers "
                    "wait for SQLite's own lock instead",
                    self.path,
                    error,
                )
            return True

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, _WRITE)
        finally:
            self._mine.release()

    def close_if_idle(self) -> None:
        """Close the file while no thread of this process is at it (an engine disposed):
        one descriptor less for each database a long process (the tests) has used. Only
        then: closing any descriptor on the file lets go of every lock this process holds
        on it. The next writer opens it again."""
        if not self._mine.acquire(blocking=False):
            return
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        finally:
            self._mine.release()

    def _file(self) -> int:
        if self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            else:
                self._as_database(fd)
            self._fd = fd
        return self._fd

    def _as_database(self, fd: int) -> None:
        if self.like is None:
            return
        try:
            database = os.stat(self.like)
            os.fchmod(fd, database.st_mode & 0o666)
            if os.geteuid() == 0:
                os.fchown(fd, database.st_uid, database.st_gid)
        except OSError as error:
            log.warning("the writers' lock file keeps its own mode and owner: %s", error)

    def _forked(self) -> None:
        # A child holds none of its parent's record locks, whatever its copy of this queue
        # says: it starts with nothing held, and a descriptor of its own.
        self._fd = None
        self._mine = threading.Lock()


def _after_fork_in_child() -> None:
    global _QUEUES_LOCK
    _QUEUES_LOCK = threading.Lock()
    for queue in _QUEUES.values():
        queue._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _take(fd: int, byte: int, deadline: float) -> bool:
    pause = _FIRST_PAUSE
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
            return True
        except OSError as error:
            if error.errno not in _HELD_ELSEWHERE:
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
