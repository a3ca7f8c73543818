"""chatd-client at a terminal: a pseudo-terminal stands in for the person."""

from __future__ import annotations

import fcntl
import os
import re
import select
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon
from tests.test_client_loopback import RunningClient, client_command, client_env

WAIT = 10.0
# Colour changes between the words of a prompt.
STYLE = rb"(?:\x1b\[[0-9;]*m)*"


class Terminal:
    """The client running on a pty, read and typed into like a person would."""

    def __init__(self, *args: str, environ: dict[str, str] | None = None) -> None:
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
        terminal.reply(b"welcome, pat", b"pat>")
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
        terminal.reply(b"welcome, pat", b"pat>")
        terminal.type(b"\x04")
        self.assertEqual(terminal.wait(), 0)
        self.assertNotRegex(terminal.output, rb"\x1b\[[0-9;]*3[0-7]m")
        self.assertNotRegex(terminal.output, rb"\x1b\[[0-9;]*38;5;")

    def test_the_prompt_shows_the_current_room(self) -> None:
        terminal = self.terminal()
        terminal.reply(b"chatd ready", b"1m>")
        terminal.type(b"/nick pat\r")
        terminal.reply(b"welcome, pat", b"pat>")
        terminal.type(b"/join den\r")
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you are in den"))
        terminal.type(b"/join attic\r")
        terminal.read_match(rb"\[attic\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you are in attic"))
        terminal.type(b"/leave\r")
        terminal.read_match(rb"\[den\] " + STYLE + rb"pat>",
                            after=terminal.read_until(b"you left attic"))

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
