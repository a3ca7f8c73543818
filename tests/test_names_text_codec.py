"""Pure pieces: names, relayable text, the line framer and renderers, server-line parsing."""

from __future__ import annotations

import string
import unicodedata

from fuzz_support import bounded
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from chatd.frontends.codes import ServerLine, parse_server_line
from chatd.frontends.framing import LineFramer, TooLong
from chatd.frontends.rendering import render_event
from chatd.kernel.errors import BadName, BadText
from chatd.kernel.events import Said
from chatd.kernel.names import (
    _IGNORABLE,
    _LOOKALIKES,
    MAX_NAME_LENGTH,
    ReservedNames,
    check_room_name,
    check_user_name,
    fold,
    skeleton,
)
from chatd.kernel.text import clean_text


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# The rules written out once more the long way, without the ASCII shortcuts that names.py
# takes for speed: the shortcuts must give the very same answers.
def fold_by_the_rules(name: str) -> str:
    return nfkc(nfkc(name).casefold())


def skeleton_by_the_rules(name: str) -> str:
    return fold_by_the_rules(nfkc(name).translate(_LOOKALIKES)).replace("rn", "m")


def check_by_the_rules(raw: str) -> str | None:
    """The display form, or None where a BadName is due."""
    name = nfkc(raw)
    if not name or len(name) > MAX_NAME_LENGTH or _IGNORABLE.search(name):
        return None
    if not (unicodedata.category(name[0])[0] in "LN" or name[0] == "_"):
        return None
    if any(unicodedata.category(c)[0] not in "LNM" and c not in "_-." for c in name):
        return None
    return name


def checked(name: str) -> str | None:
    try:
        return check_user_name(name)
    except BadName:
        return None


# Names as people type them (plain ASCII, the shortcuts' case) and as they don't.
name_text = st.one_of(
    st.text(alphabet=string.printable, max_size=40),
    st.text(alphabet=st.sampled_from("Il10OornmM_-. aZ9\u0430\u0399\uff21\u200b\u00e9"),
            max_size=12),
    st.text(max_size=12),
)


class Names(SynchronousTestCase):
    def test_folding(self) -> None:
        self.assertEqual(fold("Alice"), fold("ALICE"))
        self.assertEqual(fold("Ａｌｉｃｅ"), fold("alice"))
        self.assertEqual(fold("Straße"), fold("STRASSE"))

    def test_display_keeps_case(self) -> None:
        self.assertEqual(check_user_name("Alice"), "Alice")
        self.assertEqual(check_room_name("#Lobby"), "Lobby")
        self.assertEqual(check_user_name("Ａｌｉｃｅ"), "Alice")

    def test_valid(self) -> None:
        for name in ("a", "_x", "Zoë", "名前", "a.b-c_d", "9lives", "x" * 32):
            self.assertEqual(check_user_name(name), name)

    def test_invalid(self) -> None:
        for name in ("", "-a", ".a", "a b", "a:b", "<a>", "a*", "x" * 33, "a\u202eb",
                     "a\u200bb", "a\x00", "[a]", "#a"):
            self.assertRaises(BadName, check_user_name, name)

    def test_invisible_characters_are_refused(self) -> None:
        # Default-ignorable code points, though some are letters (Hangul fillers) or marks
        # (variation selectors, the combining grapheme joiner): "Alice" plus one looks
        # exactly like "Alice", and U+3164 alone looks blank.
        for name in ("Alice\u034f", "Alice\ufe0f", "Alice\u3164", "Alice\u115f", "\u3164",
                     "\u3164\u3164", "Ali\u00adce", "paypal\u034f", "Alice\U000e0041",
                     "a\u2060b", "a\uffa0"):
            self.assertRaises(BadName, check_user_name, name)
            self.assertRaises(BadName, check_room_name, name)

    def test_reserved_names_and_their_lookalikes(self) -> None:
        reserved = ReservedNames()
        for name in ("chatd", "ChatD", "NickServ", "admin", "ADMIN", "Adm1n", "root",
                     "r00t", "chanserv"):
            self.assertRaises(BadName, reserved.check, name)
        for name in ("alice", "administrate", "rooty"):
            reserved.check(name)
        ReservedNames(("alice",)).check("admin")  # the setting replaces the list
        self.assertRaises(BadName, ReservedNames(("alice",)).check, "ALlCE")

    def test_every_ascii_character_folds_and_looks_as_the_rules_say(self) -> None:
        for code in range(128):
            for name in (chr(code), f"a{chr(code)}", f"a{chr(code)}b" * 11):
                self.assertEqual(fold(name), fold_by_the_rules(name), repr(name))
                self.assertEqual(skeleton(name), skeleton_by_the_rules(name), repr(name))
                self.assertEqual(checked(name), check_by_the_rules(name), repr(name))

    def test_lookalikes_of_plain_names(self) -> None:
        self.assertEqual(skeleton("PAYPAL"), skeleton("paypa1"))
        self.assertEqual(skeleton("Il1"), "lll")
        self.assertEqual(skeleton("r00m"), skeleton("ROOM"))
        self.assertEqual(skeleton("rnodem"), skeleton("modem"))
        self.assertEqual(skeleton("p\u0430ypal"), skeleton("PAYPAL"))  # Cyrillic а

    @bounded(300)
    @given(name_text)
    def test_names_fold_look_and_check_as_the_rules_say(self, name: str) -> None:
        self.assertEqual(fold(name), fold_by_the_rules(name))
        self.assertEqual(skeleton(name), skeleton_by_the_rules(name))
        self.assertEqual(checked(name), check_by_the_rules(name))
        try:
            room: str | None = check_room_name(f"#{name}")
        except BadName:
            room = None
        self.assertEqual(room, check_by_the_rules(name))


class Text(SynchronousTestCase):
    def test_clean(self) -> None:
        self.assertEqual(clean_text("héllo  wörld"), "héllo  wörld")
        self.assertEqual(clean_text("a\tb"), "a b")

    def test_control_set_is_unicode_cc(self) -> None:
        import unicodedata

        from chatd.kernel.text import _REFUSED

        layout = {0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
        # Every code point, compared in one pass and asserted once: a million assertEqual
        # calls took seconds of the unit tier, and this names every code point that differs.
        differ = [hex(code) for code in range(0x110000)
                  if bool(_REFUSED.match(chr(code)))
                  != (unicodedata.category(chr(code)) == "Cc" or code in layout)]
        self.assertEqual(differ, [])

    def test_refused(self) -> None:
        for text in ("", "   ", "\x1b[31mred", "a\rb", "nul\x00", "c1\x85", "del\x7f",
                     "x" * 1025):
            self.assertRaises(BadText, clean_text, text)

    def test_bidi_overrides_and_separators_are_refused(self) -> None:
        # An unterminated U+202E would reverse what the terminal shows after it.
        for text in ("hi \u202eevil", "a\u202ab", "a\u2066b", "a\u2069", "one\u2028two",
                     "p\u2029q"):
            self.assertRaises(BadText, clean_text, text)
        # Marks and joiners reorder nothing beyond a character: emoji and RTL text stay.
        for text in ("\u05e9\u05dc\u05d5\u05dd\u200f!", "👩\u200d💻", "a\u200eb"):
            self.assertEqual(clean_text(text), text)


class Framer(SynchronousTestCase):
    def test_lines(self) -> None:
        framer = LineFramer(10)
        self.assertEqual(framer.feed(b"a\r\nb\nc"), [b"a", b"b"])
        self.assertEqual(framer.feed(b"\r"), [])
        self.assertEqual(framer.feed(b"\n"), [b"c"])

    def test_exact_limit_with_crlf_split(self) -> None:
        framer = LineFramer(4)
        self.assertEqual(framer.feed(b"abcd\r"), [])
        self.assertEqual(framer.feed(b"\n"), [b"abcd"])

    def test_long_line_in_one_read(self) -> None:
        self.assertEqual(LineFramer(4).feed(b"abcde\nok\n"), [TooLong.LINE, b"ok"])

    def test_long_line_over_many_reads_is_reported_once_and_discarded(self) -> None:
        framer = LineFramer(4)
        out = []
        for _ in range(100):
            out += framer.feed(b"xxxxxxx")
            self.assertLessEqual(len(framer._buffer), 5, "memory stays bounded")
        out += framer.feed(b"/quit\nnext\n")
        self.assertEqual(out, [TooLong.LINE, b"next"])


class Rendering(SynchronousTestCase):
    def test_rendered_once_per_format(self) -> None:
        calls = []

        def render(event: object) -> bytes:
            calls.append(event)
            return b"x"

        event = Said("lobby", "ann", "hi")
        for _ in range(1000):
            self.assertEqual(event.encoded(render), b"x")
        self.assertEqual(event.encoded(render_event), b"101 [lobby] <ann> hi\r\n")
        self.assertEqual(len(calls), 1)

    def test_parse_server_line(self) -> None:
        self.assertEqual(parse_server_line("101 [a] <b> c"), ServerLine(101, True, "[a] <b> c"))
        self.assertEqual(parse_server_line("214-help"), ServerLine(214, False, "help"))
        self.assertEqual(parse_server_line("210"), ServerLine(210, True, ""))
        self.assertTrue(parse_server_line("103 x").is_event)  # type: ignore[union-attr]
        self.assertIsNone(parse_server_line("hello"))
        self.assertIsNone(parse_server_line("2000 x"))
