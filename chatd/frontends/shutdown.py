"""The last word to every connection when the daemon stops."""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList

from chatd.frontends.connection import FrontendFactory
from chatd.frontends.entry import Frontend


class ShutdownNotice(Service):
    """Added last, so stopped first: every connection hears why it is closing (109) and gets
    what was queued for it, before the listeners and the data go."""

    def __init__(self, frontends: list[tuple[Frontend, FrontendFactory]]) -> None:
        self.frontends = frontends

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        why = "the server is shutting down; reconnect in a minute"
        return DeferredList([frontend.shutdown(factory, why)
                             for frontend, factory in self.frontends])
