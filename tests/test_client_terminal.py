"""chatd-client at a terminal: a pseudo-terminal stands in for the person."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon
from tests.test_client_loopback import RunningClient, client_command, client_env

WAIT = 10.0


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

    def read_until(self, text: bytes, after: int = 0) -> int:
        """Wait until ``text`` shows at or after offset ``after``; where it ends."""
        deadline = time.monotonic() + WAIT
        while (found := self.output.find(text, after)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_some(remaining):
                raise AssertionError(f"no {text!r} on the terminal; it shows {self.output!r}")
        return found + len(text)

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


class TerminalTests(TestCase):
    def setUp(self) -> None:
        daemon = Daemon(Path(self.mktemp()).absolute())
        self.addCleanup(daemon.cleanup)
        self.port = str(daemon.start().port)

    def terminal(self, environ: dict[str, str] | None = None) -> Terminal:
        terminal = Terminal("127.0.0.1", self.port, environ=environ)
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
