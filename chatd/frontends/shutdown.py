"""The last word to every connection when the daemon stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList

from chatd.frontends.connection import FrontendFactory
from chatd.frontends.entry import Frontend


class ShutdownNotice(Service):
    """Added last, so stopped first: every connection hears why it is closing (109) and gets
    what was queued for it, before the listeners and the data go. First ``closing`` is
    called: the seats held (chatd.core.seats) end with a reason their rooms hear (on the
    other nodes of a cluster), and the connections closed now keep none."""

    def __init__(self, frontends: list[tuple[Frontend, FrontendFactory]],
                 closing: Callable[[], object] = lambda: None) -> None:
        self.frontends = frontends
        self.closing = closing

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        self.closing()
        why = "the server is shutting down; reconnect in a minute"
        return DeferredList([frontend.shutdown(factory, why)
                             for frontend, factory in self.frontends])
