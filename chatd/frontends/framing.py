"""Cutting a byte stream into bounded lines: the line protocol's and IRC's framing, and the
bundled client's."""

from __future__ import annotations

import enum
from collections.abc import Callable


class TooLong(enum.Enum):
    """Marks, in the framer's output, where a line over the limit was thrown away."""

    LINE = "line"


class LineFramer:
    """Splits a byte stream into lines of at most ``max_length`` bytes.

    LF ends a line; a CR before it is dropped. A line longer than the limit yields one
    ``TooLong.LINE`` and everything up to its LF is discarded, however many reads that takes,
    so the tail of an over-long line is never taken as a command. Memory stays bounded by the
    limit. (LineOnlyReceiver drops the connection instead, and LineReceiver would run the tail.)

    A line that ``stop_at`` picks (the line protocol's ``/send``, which raw bytes may follow)
    is the last one framed: the bytes after it are held, unframed (``holding``), until the
    protocol either takes them as raw bytes (``take``) or lets them be framed (``release``).
    """

    __slots__ = ("_buffer", "_discarding", "holding", "max_length", "stop_at")

    def __init__(self, max_length: int,
                 stop_at: Callable[[bytes], bool] | None = None) -> None:
        self.max_length = max_length
        self.stop_at = stop_at
        self._buffer = b""
        self._discarding = False
        self.holding = False

    @property
    def held(self) -> int:
        """Bytes waiting here unframed."""
        return len(self._buffer)

    def take(self) -> bytes:
        """The bytes held, handed over raw."""
        data, self._buffer = self._buffer, b""
        return data

    def release(self) -> list[bytes | TooLong]:
        """Frame again, starting with the bytes held."""
        self.holding = False
        return self.feed(b"")

    def discard(self) -> None:
        """Abandon the line being typed (telnet's Interrupt Process)."""
        self._buffer = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | TooLong]:
        out: list[bytes | TooLong] = []
        buffer = self._buffer + data
        if self.holding:
            self._buffer = buffer
            return out
        start = 0
        stop_at = self.stop_at
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_length:
                out.append(TooLong.LINE)
                continue
            out.append(line)
            if stop_at is not None and stop_at(line):
                self.holding = True
                self._buffer = buffer[start:]
                return out
        rest = buffer[start:]
        # +1 leaves room for a CR that may still be followed by its LF.
        if len(rest) > self.max_length + 1:
            if not self._discarding:
                out.append(TooLong.LINE)
                self._discarding = True
            rest = b""
        self._buffer = rest
        return out
