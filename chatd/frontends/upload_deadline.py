"""The one deadline rule of an upload's bytes, for every frontend that takes them.

An upload in progress holds its declared SIZE against the quotas (``chatd.files.store``) and
a ``.part`` file, so a sender that stalls, or dribbles a byte now and then, must not hold
them for ever. An idle timer would not do: it starts again at each byte. So an upload has a
fixed deadline from its start, a minimum average rate with a grace for the start:
``upload-grace + SIZE / upload-min-rate`` seconds. Past it the upload is aborted (its space
given back, its part file removed) and the frontend is told, with ``UploadTooSlow`` (408),
so that it answers the upload and cuts it: the line protocol's ``/send`` and the web's
``POST /upload`` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from chatd.kernel.errors import UploadTooSlow
from chatd.kernel.interfaces import IUpload
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class UploadPace:
    """The rule: ``min_rate`` bytes per second on average (0: no deadline), after ``grace``
    seconds."""

    min_rate: int = DEFAULTS["upload-min-rate"]
    grace: float = DEFAULTS["upload-grace"]

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadPace:
        return cls(min_rate=settings.upload_min_rate, grace=settings.upload_grace)

    def allowed(self, size: int) -> float | None:
        """Seconds an upload of ``size`` bytes may take; None: as long as it likes."""
        if not self.min_rate:
            return None
        return self.grace + size / self.min_rate


# The defaults' pace: the frontends' Options until settings give theirs.
DEFAULT_PACE = UploadPace()


class UploadDeadline:
    """One upload's deadline, running from its start until ``cancel`` (all its bytes are in,
    or it ended otherwise). If it passes first, the upload is aborted and ``cut`` is called
    with the error that says why, for the frontend to answer and close."""

    def __init__(self, clock: IReactorTime, pace: UploadPace, upload: IUpload,
                 cut: Callable[[UploadTooSlow], object]) -> None:
        self._upload = upload
        self._cut = cut
        self._allowed = pace.allowed(upload.size)
        self._pace = pace
        self._call: IDelayedCall | None = None
        if self._allowed is not None:
            self._call = clock.callLater(self._allowed, self._expired)

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _expired(self) -> None:
        self._call = None
        upload = self._upload
        upload.abort()
        self._cut(UploadTooSlow(
            f"the upload was too slow: {upload.received} of {upload.size} bytes in "
            f"{self._allowed:g} seconds (it may take {self._pace.grace:g} seconds plus one "
            f"per {self._pace.min_rate} bytes); the file was not stored"))
