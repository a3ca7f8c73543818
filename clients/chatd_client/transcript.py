"""The session's transcript, kept in memory for ``/save FILE``.

It records what the person saw and what they typed, with passwords masked: a transcript is
made to be shared, and a ``/login`` line in it would give the account away. Memory is bounded
by keeping only the newest ``max_entries`` lines; the saved file says when older ones were
dropped.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from chatd_client.commands import secret_spans

MASK = "********"


def redact(line: str) -> str:
    """``line`` with the password arguments of a command masked."""
    masked, end = [], 0
    for start, stop in secret_spans(line):
        masked.append(line[end:start] + MASK)
        end = stop
    return "".join(masked) + line[end:]


@dataclass(frozen=True, slots=True)
class Entry:
    when: float
    direction: str  # "<" from the server, ">" typed by the user, "*" said by the client
    text: str


class Transcript:
    def __init__(
        self, clock: Callable[[], float] = time.time, max_entries: int = 100_000
    ) -> None:
        self._clock = clock
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._dropped = 0
        self.started = clock()

    def received(self, text: str) -> None:
        self._add("<", text)

    def sent(self, line: str) -> None:
        self._add(">", redact(line))

    def note(self, text: str) -> None:
        self._add("*", text)

    def _add(self, direction: str, text: str) -> None:
        if len(self._entries) == self._entries.maxlen:
            self._dropped += 1
        self._entries.append(Entry(self._clock(), direction, text))

    def __len__(self) -> int:
        return len(self._entries)

    def render(self) -> str:
        """The transcript as text: a header, then ``HH:MM:SS D text`` per line."""
        started = datetime.fromtimestamp(self.started).astimezone()
        lines = [f"# chatd-client transcript, started {started:%Y-%m-%d %H:%M:%S %z}"]
        if self._dropped:
            lines.append(f"# {self._dropped} older lines were not kept")
        for entry in self._entries:
            stamp = datetime.fromtimestamp(entry.when).astimezone()
            lines.append(f"{stamp:%H:%M:%S} {entry.direction} {entry.text}")
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> int:
        """Write the transcript to ``path`` (replacing it); return how many lines it holds."""
        path.expanduser().write_text(self.render(), encoding="utf-8")
        return len(self._entries)
