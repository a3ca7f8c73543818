"""The data directory as a service: locked and loaded first, unlocked last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from twisted.application.service import Service
from twisted.logger import Logger

from chatd.kernel.errors import StartupError
from chatd.storage.journal import DirectoryLock

log = Logger()


class DataService(Service):
    """Locks the data directory, then loads what lives in it: ``accounts`` (which answers how
    many, for the log), then each of ``loads`` in order (rooms, shared files).

    It is the first service to start, so when the data can't be had (another daemon holds
    the lock, a journal is damaged) nothing else has started: the daemon exits at once with
    one line saying why, and a non-zero status for systemd. It is the last to stop, so the
    lock is held until the journal thread has written everything queued.
    """

    def __init__(self, path: Path, accounts: Callable[[], object],
                 loads: Sequence[Callable[[], object]]) -> None:
        self.path = path
        self.lock = DirectoryLock(path)
        self.accounts = accounts
        self.loads = loads

    def startService(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.lock.acquire()
            accounts = self.accounts()
            for load in self.loads:
                load()
        except (StartupError, OSError) as error:
            raise SystemExit(f"chatd: {error}") from None
        log.info("data in {path}: {accounts} accounts", path=str(self.path), accounts=accounts)
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self.lock.release()
