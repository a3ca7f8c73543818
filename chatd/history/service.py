"""History and transcripts as a service: loaded at start, their queued writes finished at
stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList

from chatd.history.files import FileHistory
from chatd.history.transcripts import Transcripts


class HistoryService(Service):
    """Loads history at start (after the data directory is locked) and, at stop, hands what
    is queued to the history thread (whose pool, stopped next, finishes it); transcripts
    too. Once loaded, ``loaded`` drops the history of rooms that are gone (the temporary
    rooms open when the daemon stopped); None where the rooms come later, from the member
    service (each resync of them drops it then)."""

    def __init__(self, history: FileHistory | None, transcripts: Transcripts | None,
                 loaded: Callable[[], None] | None = None) -> None:
        self.history = history
        self.transcripts = transcripts
        self.loaded = loaded

    def startService(self) -> None:
        if self.history is not None:
            try:
                self.history.load()
            except OSError as error:
                raise SystemExit(f"chatd: history: {error}") from None
            if self.loaded is not None:
                self.loaded()
            self.history.start()
        super().startService()

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        return DeferredList([part.stop() for part in (self.history, self.transcripts)
                             if part is not None])
