"""A telnet user on the line protocol: Ctrl-C, option requests, backspace and arrow keys."""

from __future__ import annotations

from pathlib import Path

from twisted.conch import telnet
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from chatd.frontends.line_codec import edit_line
from chatd.frontends.telnet import DISCARD, TIMING_MARK, TelnetFilter

from fakes import Client, World

CTRL_C = b"\xff\xf4\xff\xfd\x06"  # IAC IP IAC DO TIMING-MARK: what telnet sends for Ctrl-C


class TelnetCommandsAreUnderstood(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        self.client = self.world.connect()
        self.client.send("/nick tess")

    def test_ctrl_c_is_answered_and_the_next_line_works(self) -> None:
        self.client.protocol.dataReceived(CTRL_C)
        self.client.clock.advance(0)
        self.assertEqual(self.client.transport.value(), telnet.IAC + telnet.WONT + TIMING_MARK)
        self.client.transport.clear()
        self.assertEqual([line[:3] for line in self.client.send("/rooms")], ["210"])

    def test_ctrl_c_discards_the_line_being_typed(self) -> None:
        self.client.send_bytes(b"/join secret-half")
        self.client.send_bytes(b"\xff\xf4")
        self.assertEqual(self.client.send("/rooms"), ["210 0 rooms"])

    def test_a_command_split_across_reads_is_still_taken_out(self) -> None:
        self.assertEqual(self.client.send_bytes(b"/rooms\xff"), [])
        self.assertEqual(self.client.send_bytes(b"\xf1\r\n"), ["210 0 rooms"])

    def test_option_requests_are_refused(self) -> None:
        self.client.protocol.dataReceived(b"\xff\xfb\x1f\xff\xfd\x01")  # WILL NAWS, DO ECHO
        self.client.clock.advance(0)
        self.assertEqual(self.client.transport.value(),
                         b"\xff\xfe\x1f\xff\xfc\x01")  # DONT NAWS, WONT ECHO

    def test_an_escaped_ff_and_an_unknown_command_do_not_leak(self) -> None:
        self.assertEqual(self.client.send_bytes(b"\xff\xec/rooms\r\n"), ["210 0 rooms"])

    def test_nc_users_get_no_filter(self) -> None:
        self.client.send("/rooms")
        self.assertIsNone(self.client.protocol._telnet)


class TwistedsTelnetClient(TestCase):
    """Twisted's own telnet client, as a person's telnet would drive it."""

    def test_timing_mark_is_answered_so_telnet_resumes_output(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        server = world.connect()
        received: list[bytes] = []

        class Terminal(telnet.Telnet):
            def applicationDataReceived(self, data: bytes) -> None:
                received.append(data)

        terminal = Terminal()
        wire = StringTransport()
        terminal.makeConnection(wire)

        def pump() -> None:
            server.protocol.dataReceived(wire.value())
            wire.clear()
            server.clock.advance(0)
            terminal.dataReceived(server.transport.value())
            server.transport.clear()

        terminal.transport.write(b"/nick tom\r\n")
        terminal.transport.write(telnet.IAC + telnet.IP)
        answered = terminal.do(TIMING_MARK)
        pump()
        self.failureResultOf(answered, telnet.OptionRefused)
        terminal.transport.write(b"/rooms\r\n")
        pump()
        self.assertEqual(b"".join(received).splitlines()[-1], b"210 0 rooms")


class TheFilter(TestCase):
    def test_it_answers_through_the_write_it_was_given(self) -> None:
        written: list[bytes] = []
        telnet_filter = TelnetFilter(written.append, lambda: None)
        self.assertEqual(telnet_filter.feed(b"ab" + CTRL_C + b"cd"), [b"ab", DISCARD, b"cd"])
        self.assertEqual(written, [b"\xff\xfc\x06"])

    def test_erase_character_is_a_backspace(self) -> None:
        telnet_filter = TelnetFilter(lambda _: None, lambda: None)
        self.assertEqual(telnet_filter.feed(b"ab\xff\xf7"), [b"ab", b"\x08"])


class TerminalEditing(TestCase):
    def test_backspace_and_delete_erase(self) -> None:
        self.assertEqual(edit_line(b"helo\x08lo"), b"hello")
        self.assertEqual(edit_line(b"hix\x7f"), b"hi")
        self.assertEqual(edit_line(b"\x08\x08hi"), b"hi")

    def test_backspace_erases_a_whole_utf8_character(self) -> None:
        self.assertEqual(edit_line("caf\u00e9\x08e".encode()), b"cafe")

    def test_arrow_keys_are_dropped(self) -> None:
        self.assertEqual(edit_line(b"hi\x1b[D\x1b[C there\x1bOA\x1b[3~"), b"hi there")

    def test_a_line_typed_with_backspace_is_said(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        client: Client = world.connect()
        client.send("/nick ed", "/join den")
        self.assertEqual(client.send("hellp\x08o\x1b[A"), ["101 [den] <ed> hello"])
