"""What the fuzz suites share: hypothesis profiles, input strategies, and the checks every
server line, every log and the core's state must pass whatever the clients sent.

Profiles (chosen with the ``HYPOTHESIS_PROFILE`` environment variable):

* ``ci`` (the default): ``derandomize=True``, so every run, on every machine, tries the same
  examples and a red CI run is red again on a laptop; no example database; a small
  ``max_examples`` per test, so the whole fuzz suite runs in well under a minute.
* ``deep``: random seeds and twenty times the examples, for a developer hunting bugs
  (``HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz_line.py tests/test_fuzz_irc.py``).

``deadline=None`` in both: a test builds a whole in-memory server per example, and a slow
first example (imports, journal files) is not a bug.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface import provider

from chatd.core.service import ChatServer

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", deadline=None, derandomize=True, database=None,
                          print_blob=False, suppress_health_check=_HEALTH)
settings.register_profile("deep", deadline=None, derandomize=False,
                          suppress_health_check=_HEALTH)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
_SCALE = {"deep": 20}.get(PROFILE, 1)


def bounded(examples: int) -> settings:
    """``@settings`` with ``examples`` (times the profile's factor) and the profile's rest."""
    return settings(max_examples=examples * _SCALE)


# Unicode's Cc category (C0, DEL, C1), ESC included: what no server line may carry.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# -- input strategies -------------------------------------------------------------------

# Characters that break naive parsers, over-weighted so that every example meets some.
NASTY_CHARS = ["\r", "\x00", "\x1b", "\x07", "\x7f", "\x85", "\x9b", "\x01", "\x02", "\x03",
               "\t", "\x0b", "\x0c", "\u2028", "\u202e", "\u200b", "\ufeff", " ", ":", "/",
               "#", ",", "@", "!", "*", "é", "ｅ", "\U0001f600"]
nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from(NASTY_CHARS), st.characters(codec="utf-8")),
    max_size=24,
)
# Not valid UTF-8: a lone continuation byte, a truncated sequence, an encoded surrogate, an
# over-long encoding, bytes no UTF-8 has.
INVALID_UTF8 = [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xfe"]
NAMES = ["ann", "bob", "Ann", "ＡＮＮ", "cy", "e\u0301", "_x", "a.b-c", "x" * 33, "", "bad name",
         "1", "#ann", "a\x00", "a\rb", "ñ"]
ROOMS = ["lobby", "#lobby", "Lobby", "ｌｏｂｂｙ", "dev", "#dev", "tmp", "x" * 33, "", "#", "a b",
         "r\x1b", "é"]
room_names = st.one_of(st.sampled_from(ROOMS), nasty_text)
user_names = st.one_of(st.sampled_from(NAMES), nasty_text)
messages = st.one_of(st.sampled_from(["hi", "  spaced  out ", "x" * 1100, "\x1b[2J", "a\rb",
                                      "tab\there", "\x01ACTION waves\x01", "\x02bold\x02",
                                      "é" * 10]),
                     nasty_text)


def raw_lines(words: st.SearchStrategy[str], max_line: int) -> st.SearchStrategy[bytes]:
    """One line's bytes, without its ending: commands, garbage, over-long, bad UTF-8."""
    return st.one_of(
        words.map(str.encode),
        words.map(str.encode),
        st.binary(max_size=40),
        nasty_text.map(str.encode),
        st.tuples(words, st.sampled_from(INVALID_UTF8)).map(lambda p: p[0].encode() + p[1]),
        st.integers(max_line - 2, max_line + 3).map(lambda n: b"a" * n),
        st.integers(max_line + 4, 3 * max_line).map(lambda n: b"x" * n),
        st.sampled_from([b"", b" ", b"\r", b"\x00", b"\t \x0b"]),
    )


ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r\n", b"\n", b"\r\r\n"])


def streams(line: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Several lines, each with an ending; the stream always ends with a LF."""
    return st.lists(st.tuples(line, ENDINGS), min_size=1, max_size=12).map(
        lambda pairs: b"".join(body + end for body, end in pairs)
    )


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` in pieces, cut at ``cuts`` (taken modulo its length)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


cut_points = st.lists(st.integers(0, 10_000), max_size=12)

# -- checks -----------------------------------------------------------------------------


@provider(ILogObserver)
class _Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        if "log_failure" in event or event.get("log_level") in (LogLevel.error,
                                                               LogLevel.critical):
            self.events.append(event)


class FuzzCase(TestCase):
    """A trial TestCase with a fresh world per example and a check that nothing failed."""

    def fresh_path(self) -> Path:
        path = Path(self.mktemp()).absolute()
        path.mkdir(parents=True)
        return path

    def watch_logs(self) -> _Recorder:
        """Record logged failures and errors until the test ends (see ``assert_no_errors``)."""
        recorder = _Recorder()
        globalLogPublisher.addObserver(recorder)
        self.addCleanup(globalLogPublisher.removeObserver, recorder)
        return recorder

    def forget_errors(self, recorder: _Recorder) -> None:
        """At an example's start: what an earlier, failed example logged is not this one's."""
        self.flushLoggedErrors()
        recorder.events.clear()

    def assert_no_errors(self, recorder: _Recorder) -> None:
        """No failure or error was logged: checked per example, so hypothesis can shrink."""
        flushed = self.flushLoggedErrors()
        events, recorder.events[:] = list(recorder.events), []
        self.assertEqual(flushed, [], "a failure was logged")
        self.assertEqual([e.get("log_format") for e in events], [], "an error was logged")


def check_state(server: ChatServer) -> None:
    """The core's bookkeeping agrees with itself (AssertionError saying where it does not)."""
    for key, room in server.rooms.items():
        assert room.key == key, (key, room.key)
        assert room.members or room.persistent, f"empty temporary room {key!r} remains"
        for user_key, user in room.members.items():
            assert user.key == user_key
            assert server.users.get(user_key) is user, f"{user_key!r} in {key!r} is offline"
            assert user.rooms.get(key) is room, f"{user_key!r} in {key!r} does not know it"
    total = 0
    for key, user in server.users.items():
        assert user.key == key
        assert user.sessions, f"{key!r} is online with no session"
        assert not user.guest or len(user.sessions) == 1, f"guest {key!r} has 2 sessions"
        total += len(user.sessions)
        for room_key, room in user.rooms.items():
            assert server.rooms.get(room_key) is room, f"{key!r} is in a gone room {room_key!r}"
            assert room.members.get(key) is user, f"{key!r} not among {room_key!r}'s members"
        for session in user.sessions:
            assert not session.closed, f"a closed session of {key!r} is still online"
            assert session.user is user
            current = session.current_room
            assert current is None or user.rooms.get(current.key) is current, (
                f"{key!r}'s current room {current.key!r} is not one of theirs")
    assert server.session_count == total, (server.session_count, total)
    assert server.session_count >= 0
