"""chatd-client at a terminal: a pseudo-terminal stands in for the person."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import select
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon
from tests.test_client_loopback import RunningClient, client_command, client_env

pytestmark = pytest.mark.daemon

WAIT = 10.0
# Colour changes between the words of a prompt.
STYLE = rb"(?:\x1b\[[0-9;]*m)*"


class Terminal:
    """The client running on a pty, read and typed into like a person would."""

    def __init__(self, *args: str, environ: dict[str, str] | None = None,
                 answer_cpr: bool = False) -> None:
        self.master, slave = os.openpty()
        # A real size, so prompt_toolkit does not fall back to guessing.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        env = client_env()
        env["TERM"] = "xterm"
        env.update(environ or {})
        self.process = subprocess.Popen(client_command(*args), env=env, stdin=slave,
                                        stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.output = b""
        # A terminal emulator answers prompt_toolkit's cursor position requests; a pty alone
        # does not, and without the answers prompt_toolkit draws no bottom toolbar.
        self._answer_cpr = answer_cpr
        self._answered = 0

    def _read_some(self, timeout: float) -> bool:
        """Read what the client printed within ``timeout``; False once it has exited."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the client exited and the pty is gone
            return False
        self.output += chunk
        if self._answer_cpr:
            for _ in range(self.output.count(b"\x1b[6n") - self._answered):
                os.write(self.master, b"\x1b[1;1R")
                self._answered += 1
        return bool(chunk)

    def read_until(self, text: bytes, after: int = 0, timeout: float = WAIT) -> int:
        """Wait until ``text`` shows at or after offset ``after``; where it ends."""
        deadline = time.monotonic() + timeout
        while (found := self.output.find(text, after)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_some(remaining):
                raise AssertionError(f"no {text!r} on the terminal; it shows {self.output!r}")
        return found + len(text)

    def read_match(self, pattern: bytes, after: int = 0) -> int:
        """Wait until the regular expression ``pattern`` matches after ``after``; where it
        ends (for text that comes with colour changes inside it)."""
        deadline = time.monotonic() + WAIT
        while (found := re.compile(pattern).search(self.output, after)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_some(remaining):
                raise AssertionError(f"no {pattern!r} on the terminal; it shows "
                                     f"{self.output!r}")
        return found.end()

    def reply(self, text: bytes, prompt: bytes) -> None:
        """Wait for ``text``, then for the prompt drawn again after it.

        While prompt_toolkit prints above the prompt the tty is briefly in cooked mode, where
        the line discipline itself would swallow a Ctrl-D. A person could hit that window
        too, but a test must not depend on its timing.
        """
        self.read_until(prompt, after=self.read_until(text))

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self) -> int:
        deadline = time.monotonic() + WAIT
        while self.process.poll() is None and time.monotonic() < deadline:
            if not self._read_some(0.1):
                break
        try:
            return self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running; terminal shows {self.output!r}") from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)
        os.close(self.master)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TerminalTests(TestCase):
    def setUp(self) -> None:
        # A fixed port, so that a restarted daemon is where the client left it.
        self.daemon = Daemon(Path(self.mktemp()).absolute(),
                             ["--line", f"tcp:{free_port()}:interface=127.0.0.1"])
        self.addCleanup(self.daemon.cleanup)
        self.port = str(self.daemon.start().port)

    def terminal(self, environ: dict[str, str] | None = None, *args: str) -> Terminal:
        terminal = Terminal(*args, "127.0.0.1", self.port, environ=environ)
        self.addCleanup(terminal.close)
        return terminal

    def test_chat_with_colour_and_leave_with_ctrl_d(self) -> None:
        terminal = self.terminal()
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/nick pat\r")
        terminal.reply(b"welcome guest pat", b"pat>")
        terminal.type(b"/join den\r")
        terminal.reply(b"you are in den", b"pat>")
        # Someone else talks while pat has half a line typed: the line survives the message.
        terminal.type(b"half a li")
        other = RunningClient("127.0.0.1", self.port)
        self.addCleanup(other.kill)
        other.type("/nick quinn", "/join den", "hello pat")
        terminal.reply(b"hello pat", b"pat>")
        terminal.type(b"ne\r")
        terminal.reply(b"<pat>", b"pat>")
        status, seen, _ = other.finish()
        self.assertEqual(status, 0)
        self.assertIn("[den] <pat> half a line", seen)
        terminal.type(b"\x04")
        self.assertEqual(terminal.wait(), 0)
        self.assertIn(b"bye", terminal.output)
        self.assertIn(b"\x1b[0;32m", terminal.output)  # green: a colour was used

    def test_no_color(self) -> None:
        terminal = self.terminal({"NO_COLOR": "1"})
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/nick pat\r")
        terminal.reply(b"welcome guest pat", b"pat>")
        terminal.type(b"\x04")
        self.assertEqual(terminal.wait(), 0)
        self.assertNotRegex(terminal.output, rb"\x1b\[[0-9;]*3[0-7]m")
        self.assertNotRegex(terminal.output, rb"\x1b\[[0-9;]*38;5;")

    def test_the_prompt_shows_the_current_room(self) -> None:
        terminal = self.terminal()
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/nick pat\r")
        terminal.reply(b"welcome guest pat", b"pat>")
        terminal.type(b"/join den\r")
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you are in den"))
        terminal.type(b"/join attic\r")
        terminal.read_match(rb"\[attic\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you are in attic"))
        terminal.type(b"/leave\r")
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"left attic: you left attic"))

    def test_passwords_show_as_stars_while_typed(self) -> None:
        terminal = self.terminal()
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/signup pat s3cret-pw")
        terminal.read_until(b"/signup pat *********")
        terminal.type(b"\r")
        terminal.reply(b"your account is created", b"pat>")
        terminal.type(b"/passwd s3cret-pw n3w-secret\r")
        terminal.reply(b"password changed", b"pat>")
        terminal.type(b"\x04")
        self.assertEqual(terminal.wait(), 0)
        self.assertNotIn(b"s3cret", terminal.output)
        self.assertNotIn(b"n3w-secret", terminal.output)

    def test_the_client_comes_back_after_the_server_restarts(self) -> None:
        terminal = self.terminal(None, "--remember")
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/signup pat s3cret-pw\r")
        terminal.reply(b"your account is created", b"pat>")
        terminal.type(b"/create den 5 door-pw\r")
        terminal.reply(b"created den", b"pat>")
        self.daemon.stop()
        where = terminal.read_until(b"connecting again in 1 s")
        terminal.type(b"typed while away\r")
        terminal.read_until(b"what you type is kept", after=where)
        self.daemon.start()
        # Attempts come 1, 2, 4 and 8 s after the drop; the daemon is back within a few.
        where = terminal.read_until(b"logging in again as pat", after=where, timeout=20)
        where = terminal.read_until(b"joining den again", after=where)
        # Rejoined with the remembered room password, then the held line went to the room.
        terminal.read_match(rb"\[den\] " + STYLE + rb"<pat>" + STYLE + rb" typed while away",
                            after=where)
        other = RunningClient("127.0.0.1", self.port)
        self.addCleanup(other.kill)
        other.type("/nick quinn", "/join den door-pw", "/who den")
        other.wait_for("2 members in den")
        self.assertIn("@pat quinn", other.seen)  # pat owns den: its operator
        # Ctrl-D once pat's client has shown quinn arrive and drawn its prompt again.
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"quinn joined"))
        terminal.type(b"\x04")
        self.assertEqual(terminal.wait(), 0)
        for secret in (b"s3cret-pw", b"door-pw"):
            self.assertNotIn(secret, terminal.output)


class TransferTerminalTests(TestCase):
    """A transfer at the terminal, against a server played by the test, so that it can hold
    back its answer while the bar is on the screen."""

    def setUp(self) -> None:
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(WAIT)
        self.terminal = Terminal("127.0.0.1", str(listener.getsockname()[1]), answer_cpr=True)
        self.addCleanup(self.terminal.close)
        self.server, _ = listener.accept()
        self.addCleanup(self.server.close)
        self.server.settimeout(WAIT)
        self.received = b""

    def _receive(self) -> None:
        chunk = self.server.recv(65536)
        if not chunk:
            raise AssertionError(f"the client hung up; it sent {self.received!r}")
        self.received += chunk

    def server_reads(self, count: int) -> bytes:
        """The next ``count`` bytes the client sent."""
        while len(self.received) < count:
            self._receive()
        data, self.received = self.received[:count], self.received[count:]
        return data

    def server_reads_line(self) -> bytes:
        """The next line the client sent (each recv brings at least a byte: bounded)."""
        while b"\r\n" not in self.received:
            if len(self.received) > 4096:
                raise AssertionError(f"no line from the client; it sent {self.received!r}")
            self._receive()
        line, _, self.received = self.received.partition(b"\r\n")
        return line

    def test_a_file_sent_is_one_bar_then_one_line_and_no_protocol(self) -> None:
        source = Path(self.mktemp())
        source.mkdir()
        data = os.urandom(300 * 1024)
        (source / "big.bin").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        terminal = self.terminal
        self.server.sendall(b"220 chatd ready\r\n201 welcome guest pat: you are a guest\r\n"
                            b"200 joined den: you are in den (1 member)\r\n")
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you are in den"))
        where = len(terminal.output)
        terminal.type(f"/send {source / 'big.bin'}\r".encode())
        self.assertEqual(self.server_reads_line(),
                         f"/send den big.bin {len(data)} {digest}".encode())
        self.server.sendall(f"350 send {len(data)} bytes\r\n".encode())
        self.assertEqual(self.server_reads(len(data)), data)
        # All sent; the server has not said it stored the file: the bar shows 100 % below
        # the prompt and stays there.
        terminal.read_until(b"sending big.bin [####################] 100% 300.0 KiB of "
                            b"300.0 KiB", after=where)
        self.server.sendall(f"111 [den] pat shared 01JF8Z3K {len(data)} big.bin\r\n"
                            f"250 01JF8Z3K {len(data)} {digest} big.bin\r\n".encode())
        done = terminal.read_until(b"* shared big.bin with den as 01JF8Z3K (300.0 KiB in ",
                                   after=where)
        terminal.read_until(b"pat>", after=done)
        terminal.type(b"\x04")
        self.assertEqual(self.server_reads_line(), b"/quit")
        self.server.sendall(b"221 bye\r\n")
        self.server.close()
        self.assertEqual(terminal.wait(), 0)
        shown = terminal.output[where:]
        self.assertIn(b"pat shared big.bin (300.0 KiB): \x1b[0;1m/get 01JF8Z3K", shown)
        # No protocol line of the transfer, and no bar printed as a line of its own.
        for raw in (b"350 ", b"send 307200 bytes", digest.encode(), b"* ["):
            self.assertNotIn(raw, shown)
