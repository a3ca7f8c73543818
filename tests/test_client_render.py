"""The client's pure parts: how server lines look, the transcript, the command line."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.frontends.codes import ServerLine
from chatd_client.commands import Mistake, Reconnect, Save, Send, interpret
from chatd_client.options import ClientOptions, parse_args
from chatd_client.render import (
    LocalTime,
    client_note,
    human_size,
    plain,
    printable,
    render,
    render_text,
    use_colour,
    welcome_name,
)
from chatd_client.transcript import MASK, Transcript, redact


def line(raw: str) -> ServerLine:
    from chatd.frontends.codes import parse_server_line

    parsed = parse_server_line(raw)
    assert parsed is not None, raw
    return parsed


class RenderTests(TestCase):
    def test_said_is_split_into_room_nick_and_text(self) -> None:
        fragments = render(line("101 [lobby] <alice> hello <there>"))
        self.assertEqual(fragments, [("class:room", "[lobby] "), ("class:nick", "<alice>"),
                                     ("", " hello <there>")])

    def test_own_lines_are_marked(self) -> None:
        said = render(line("101 [lobby] <alice> hi"), own_nick="alice")
        acted = render(line("107 [lobby] * alice waves"), own_nick="alice")
        other = render(line("101 [lobby] <bob> hi"), own_nick="alice")
        self.assertIn(("class:own", "<alice>"), said)
        self.assertIn(("class:own", "alice"), acted)
        self.assertIn(("class:nick", "<bob>"), other)

    def test_plain_words_for_each_kind_of_line(self) -> None:
        cases = {
            "101 [x] <a> hi": "[x] <a> hi",
            "102 *bob* psst": "*bob* psst",
            "103 [x] a joined": "--> [x] a joined",
            "104 [x] a quit: bye": "<-- [x] a quit: bye",
            "105 [x] a set the topic: t": "-- [x] a set the topic: t",
            "106 [x] a: limit 5": "-- [x] a: limit 5",
            "107 [x] * a waves": "[x] * a waves",
            "112 [x] -a- note": "-- [x] -a- note",
            "113 [x] a invites you; /join x": "-- [x] a invites you; /join x",
            "114 a is now called b": "--- a is now called b",
            "123 Zx9-tok : if your connection drops, /resume Zx9-tok takes your seat back":
                "-- if the connection drops, this client takes your seat back by itself "
                "(elsewhere: /resume Zx9-tok)",
            "124 [x] a is inactive (lost connection)": "--- [x] a is inactive (lost connection)",
            "125 [x] a is back": "--- [x] a is back",
            "109 shutting down": "server closing: shutting down",
            "100 maintenance at 5": "notice: maintenance at 5",
            "220 chatd ready": "chatd ready",
            "200 joined x: you are in x (1 member)": "joined x: you are in x (1 member)",
            "211-a b c": "a b c",
            "404 no room named y; /rooms lists them": "error: no room named y; /rooms lists them",
            "500 internal server error": "server error: internal server error",
            "999 from the future": "999 from the future",
        }
        for raw, expected in cases.items():
            self.assertEqual(plain(render_text(raw)), expected, raw)

    def test_styles_tell_replies_apart(self) -> None:
        self.assertEqual(render(line("200 done"))[0][0], "class:ok")
        self.assertEqual(render(line("211-alice"))[0][0], "class:info")
        self.assertEqual(render(line("433 too many"))[0][0], "class:error")
        self.assertEqual(render(line("503 busy"))[0][0], "class:fault")

    def test_a_line_outside_the_protocol_is_shown_as_is(self) -> None:
        self.assertEqual(render_text("hello"), [("class:unknown", "hello")])

    def test_a_malformed_event_still_shows_its_text(self) -> None:
        self.assertEqual(plain(render_text("101 no brackets")), "no brackets")
        self.assertEqual(plain(render_text("102 no stars")), "no stars")
        self.assertEqual(plain(render_text("103 nobody")), "--> nobody")

    def test_history_reads_like_the_live_line_with_its_local_time(self) -> None:
        # 21:21:43 UTC is 16:21:43 five hours west; "now" is later that day there.
        west = LocalTime(now=datetime(2026, 12, 7, 23, 0, tzinfo=UTC).timestamp(),
                         zone=timezone(timedelta(hours=-5)))
        cases = {
            "110 2026-12-07T21:21:43.323Z chatd-52 [lobby] <paster> hi there":
                "(history 16:21:43) [lobby] <paster> hi there",
            "110 2026-12-07T21:21:43.323Z 01JF8Z3K4M5N6P7Q8R9S0T1V2W [lobby] * kim waves":
                "(history 16:21:43) [lobby] * kim waves",
            "110 2026-12-07T21:21:43.323Z 7 *al* -> kim psst":
                "(history 16:21:43) *al* -> kim psst",
        }
        for raw, expected in cases.items():
            self.assertEqual(plain(render_text(raw, "kim", west)), expected, raw)
        # The history mark leads; the rest is styled as the live line is, own name included.
        fragments = render_text("110 2026-12-07T21:21:43Z 01JF8Z3K [lobby] <kim> mine", "kim",
                                west)
        self.assertEqual(fragments[0], ("class:history", "(history 16:21:43) "))
        self.assertIn(("class:own", "<kim>"), fragments)

    def test_history_from_an_earlier_day_shows_the_date(self) -> None:
        # Ten days on, and with no "now" at all, the date comes first, in the locale's form.
        later = LocalTime(now=datetime(2026, 12, 17, tzinfo=UTC).timestamp(), zone=UTC)
        raw = "110 2026-12-07T21:21:43.323Z chatd-52 [lobby] <paster> hi"
        shown = datetime(2026, 12, 7, 21, 21, 43).strftime("%x %X")
        for local in (later, LocalTime(zone=UTC)):
            self.assertEqual(plain(render_text(raw, None, local)),
                             f"(history {shown}) [lobby] <paster> hi")

    def test_a_malformed_history_line_still_shows_its_text(self) -> None:
        for text in ("yesterday chatd-1 [x] <a> hi", "2026-12-07T21:21:43 c-1 [x] <a> hi",
                     "2026-12-07T21:21:43Z c-1 nothing like a message", "alone"):
            self.assertEqual(plain(render_text(f"110 {text}")), f"notice: {text}")

    def test_a_shared_file_shows_its_name_size_and_how_to_fetch_it(self) -> None:
        self.assertEqual(
            plain(render_text("111 [lobby] alice shared 01JF8Z3K4M5N6P7Q8R9S0T1V2W 3145728 "
                              "my notes.txt")),
            "-- [lobby] alice shared my notes.txt (3.0 MiB): /get 01JF8Z3K4M5N6P7Q8R9S0T1V2W")
        self.assertEqual(plain(render_text("111 [x] bo shared chatd-9 6 a.txt")),
                         "-- [x] bo shared a.txt (6 bytes): /get chatd-9")
        self.assertEqual(plain(render_text("111 something else")), "notice: something else")

    def test_sizes_in_human_units(self) -> None:
        self.assertEqual([human_size(n) for n in (1, 1023, 1536, 3 << 20, 5 << 30)],
                         ["1 byte", "1023 bytes", "1.5 KiB", "3.0 MiB", "5.0 GiB"])

    def test_control_characters_never_reach_the_terminal(self) -> None:
        self.assertEqual(printable("a\x1b[2Jb\x07\x9b"), "a\\x1b[2Jb\\x07\\x9b")
        self.assertEqual(printable("ok ünïcödé"), "ok ünïcödé")
        rendered = plain(render_text("101 [x] <a> \x1b]0;pwned\x07"))
        self.assertNotIn("\x1b", rendered)
        self.assertNotIn("\x07", rendered)

    def test_welcome_name(self) -> None:
        self.assertEqual(welcome_name(line("201 welcome guest alice: you are a guest")), "alice")
        self.assertEqual(welcome_name(line("201 welcome account Bob: welcome back")), "Bob")
        self.assertIsNone(welcome_name(line("200 welcome guest alice: you are a guest")))
        self.assertIsNone(welcome_name(line("201 something else")))

    def test_colour_only_on_a_terminal_without_no_color(self) -> None:
        self.assertTrue(use_colour(True, {"TERM": "xterm"}))
        self.assertFalse(use_colour(False, {"TERM": "xterm"}))
        self.assertFalse(use_colour(True, {"NO_COLOR": "1"}))
        self.assertTrue(use_colour(True, {"NO_COLOR": ""}))  # no-color.org: empty is unset
        self.assertFalse(use_colour(True, {"TERM": "dumb"}))

    def test_client_note_is_marked(self) -> None:
        self.assertEqual(plain(client_note("connected")), "* connected")


class TranscriptTests(TestCase):
    def test_passwords_are_masked(self) -> None:
        self.assertEqual(redact("/login alice s3cret"), f"/login alice {MASK}")
        self.assertEqual(redact("/SIGNUP alice s3cret"), f"/SIGNUP alice {MASK}")
        self.assertEqual(redact("/passwd old new"), f"/passwd {MASK} {MASK}")
        self.assertEqual(redact("/join room pw"), f"/join room {MASK}")
        self.assertEqual(redact("/create room 10 pw"), f"/create room 10 {MASK}")
        self.assertEqual(redact("/lock room pw"), f"/lock room {MASK}")
        # A password can't hold a space; one typed with spaces is masked whole all the same.
        self.assertEqual(redact("/login alice correct horse"), f"/login alice {MASK} {MASK}")

    def test_lines_without_passwords_are_kept_as_typed(self) -> None:
        for typed in ["/join room", "/create room 10", "/msg bob  two  spaces", "hello",
                      "//login a b", "/", "/login alice"]:
            self.assertEqual(redact(typed), typed)

    def test_render_and_save(self) -> None:
        now = [1_700_000_000.0]
        transcript = Transcript(clock=lambda: now[0])
        transcript.sent("/login alice s3cret")
        now[0] += 1
        transcript.received("welcome account alice: welcome back")
        transcript.note("connected")
        path = Path(self.mktemp())
        self.assertEqual(transcript.save(path), 3)
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("# chatd-client transcript, started "))
        self.assertRegex(lines[1], rf"^\d\d:\d\d:\d\d > /login alice {re.escape(MASK)}$")
        self.assertRegex(lines[2], r"^\d\d:\d\d:\d\d < welcome account alice: welcome back$")
        self.assertRegex(lines[3], r"^\d\d:\d\d:\d\d \* connected$")
        self.assertNotIn("s3cret", text)

    def test_memory_is_bounded_and_the_file_says_so(self) -> None:
        transcript = Transcript(clock=lambda: 0.0, max_entries=2)
        for number in range(5):
            transcript.received(f"line {number}")
        self.assertEqual(len(transcript), 2)
        text = transcript.render()
        self.assertIn("# 3 older lines were not kept", text)
        self.assertNotIn("line 2", text)
        self.assertIn("line 4", text)


class CommandTests(TestCase):
    def test_client_commands(self) -> None:
        self.assertEqual(interpret("/save ~/chat.txt"), Save(Path("~/chat.txt").expanduser()))
        self.assertEqual(interpret("/SAVE  log.txt "), Save(Path("log.txt")))
        self.assertEqual(interpret("/reconnect"), Reconnect())
        self.assertIsInstance(interpret("/save"), Mistake)
        self.assertIsInstance(interpret("/reconnect now"), Mistake)

    def test_everything_else_goes_to_the_server(self) -> None:
        self.assertEqual(interpret("/join x"), Send("/join x"))
        self.assertEqual(interpret("//save me"), Send("//save me"))
        self.assertEqual(interpret("/saved"), Send("/saved"))
        self.assertIsNone(interpret("   "))

    def test_verb(self) -> None:
        self.assertEqual(Send("/QUIT bye").verb, "quit")
        self.assertEqual(Send("hello").verb, "")
        self.assertEqual(Send("//quit").verb, "")


class OptionTests(TestCase):
    def parse_error(self, argv: list[str]) -> str:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as caught:
            parse_args(argv)
        self.assertEqual(caught.exception.code, 2)
        return stderr.getvalue()

    def test_defaults(self) -> None:
        self.assertEqual(parse_args(["example.org"]), ClientOptions(host="example.org"))

    def test_everything(self) -> None:
        options = parse_args(["--tls", "--ca", "ca.pem", "--raw", "--wait", "2",
                              "--connect-timeout", "3", "--remember", "chat.example", "7000"])
        self.assertEqual(options, ClientOptions(host="chat.example", port=7000, tls=True,
                                                ca=Path("ca.pem"), raw=True, wait=2.0,
                                                connect_timeout=3.0, remember=True))

    def test_bad_ports(self) -> None:
        for port in ["0", "65536", "http", "-1"]:
            self.assertIn("not a port number", self.parse_error(["host", port]))

    def test_bad_seconds(self) -> None:
        self.assertIn("not a number of seconds", self.parse_error(["--wait", "x", "host"]))
        self.assertIn("not a number of seconds",
                      self.parse_error(["--connect-timeout", "0", "host"]))

    def test_ca_needs_tls(self) -> None:
        self.assertIn("--ca only makes sense with --tls",
                      self.parse_error(["--ca", "ca.pem", "host"]))

    def test_host_is_required(self) -> None:
        self.assertIn("host", self.parse_error([]))
