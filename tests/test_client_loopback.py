"""chatd-client against the real daemon on loopback, both as subprocesses.

The client runs non-interactively (stdin and stdout are pipes), the mode scripts use, so
these tests read its stdout the way a script would. Every wait is bounded.
"""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon, daemon_env, make_tls_files

pytestmark = pytest.mark.daemon

TIMEOUT = 20.0
WAIT = 10.0


def client_command(*args: str) -> list[str]:
    # The source tree's client (daemon_env puts clients/ on the path), not an installed one.
    return [sys.executable, "-m", "chatd_client", *args]


def client_env() -> dict[str, str]:
    env = daemon_env()
    env.pop("NO_COLOR", None)
    return env


class RunningClient:
    """A client subprocess whose stdin the test types into and whose stdout it reads."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            client_command(*args), env=client_env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def type(self, *lines: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("".join(f"{line}\n" for line in lines))
        self.process.stdin.flush()

    def wait_for(self, text: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout}s; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"client exited before {text!r}; saw {self.seen}")
            self.seen.append(line)

    def finish(self) -> tuple[int, list[str], str]:
        """Close stdin; the exit status, every stdout line, and stderr."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            status = self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"client still running {TIMEOUT}s after stdin ended; "
                                 f"saw {self.seen}") from None
        while (line := self.lines.get(timeout=WAIT)) is not None:
            self.seen.append(line)
        assert self.process.stderr is not None
        return status, self.seen, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def run_client(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run a client to its end with ``stdin`` as its input."""
    try:
        return subprocess.run(client_command(*args), input=stdin, env=client_env(),
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"client still running after {TIMEOUT}s: {expired.stdout!r} "
                             f"{expired.stderr!r}") from None


class ClientTestCase(TestCase):
    def path(self) -> Path:
        # Absolute: the daemon and the clients run in other working directories.
        return Path(self.mktemp()).absolute()

    def start_daemon(self, *extra: str) -> Daemon:
        daemon = Daemon(self.path(), extra)
        self.addCleanup(daemon.cleanup)
        return daemon.start()

    def running(self, *args: str) -> RunningClient:
        client = RunningClient(*args)
        self.addCleanup(client.kill)
        return client


class ChatTests(ClientTestCase):
    def test_two_people_chat(self) -> None:
        daemon = self.start_daemon()
        bob = self.running("127.0.0.1", str(daemon.port))
        bob.type("/nick bob", "/join lobby")
        bob.wait_for("joined lobby: you are in lobby (1 member)")

        alice = run_client("127.0.0.1", str(daemon.port), stdin=(
            "/nick alice\n/join lobby\nhello bob\n/me waves\n/msg bob psst\n/who\n"))
        self.assertEqual(alice.returncode, 0, alice.stderr)
        self.assertEqual(alice.stdout.splitlines(), [
            alice.stdout.splitlines()[0],  # the greeting, whatever its words
            "welcome guest alice: you are a guest; /join a room to talk",
            "--> [lobby] alice joined (2 members)",
            "joined lobby: you are in lobby (2 members)",
            "[lobby] <alice> hello bob",
            "[lobby] * alice waves",
            "sent to bob",
            "alice @bob",  # bob opened the room: its operator
            "2 members in lobby",
            "bye",
        ])
        self.assertIn("* connected to 127.0.0.1", alice.stderr)
        self.assertIn("* disconnected", alice.stderr)

        bob.wait_for("<-- [lobby] alice quit")
        bob.type("thanks, alice")
        bob.wait_for("[lobby] <bob> thanks, alice")
        status, seen, errors = bob.finish()
        self.assertEqual(status, 0, errors)
        for expected in ["--> [lobby] alice joined (2 members)", "[lobby] <alice> hello bob",
                         "[lobby] * alice waves", "*alice* psst"]:
            self.assertIn(expected, seen)
        self.assertEqual(seen[-1], "bye")

    def test_raw_output_and_a_saved_transcript(self) -> None:
        daemon = self.start_daemon()
        saved = self.path()
        result = run_client("--raw", "127.0.0.1", str(daemon.port), stdin=(
            "/signup carol correct-horse-battery\n/nosuch\n/quit\n"
            f"/save {saved}\n"))
        self.assertEqual(result.returncode, 0, result.stderr)
        codes = [line[:4] for line in result.stdout.splitlines()]
        self.assertEqual(codes, ["220 ", "201 ", "400 ", "221 "])
        transcript = saved.read_text(encoding="utf-8")
        self.assertIn("> /signup carol ********", transcript)
        self.assertIn("> /quit", transcript)
        self.assertNotIn("correct-horse-battery", transcript)

    def test_nothing_listening(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        result = run_client("127.0.0.1", str(port), stdin="hello\n")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertIn(f"127.0.0.1:{port} refused the connection; is chatd running there?",
                      result.stderr)

    def test_tls_at_the_plain_port_says_so(self) -> None:
        daemon = self.start_daemon()
        result = run_client("--tls", "127.0.0.1", str(daemon.port), stdin="/nick tess\n")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertRegex(result.stderr, rf"TLS: 127\.0\.0\.1:{daemon.port} does not speak "
                                        r"TLS \(.+\); try without --tls")

    def test_the_server_going_away_ends_the_session(self) -> None:
        daemon = self.start_daemon()
        dave = self.running("127.0.0.1", str(daemon.port))
        dave.type("/nick dave")
        dave.wait_for("welcome guest dave: you are a guest; /join a room to talk")
        daemon.stop()
        status, _, errors = dave.finish()
        self.assertEqual(status, 1)
        self.assertIn("the server closed the connection", errors)


class TLSTests(ClientTestCase):
    def setUp(self) -> None:
        directory = self.path()
        directory.mkdir()
        self.ca, key, cert = make_tls_files(directory)
        self.daemon = self.start_daemon(
            "--line", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}")

    def test_verified_with_the_private_ca(self) -> None:
        result = run_client("--tls", "--ca", str(self.ca), "localhost", str(self.daemon.port),
                            stdin="/nick tess\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("welcome guest tess: you are a guest; /join a room to talk",
                      result.stdout.splitlines())
        self.assertIn(f"* connected to localhost:{self.daemon.port} with TLS, certificate "
                      "verified", result.stderr)

    def test_plain_at_the_tls_port_says_so(self) -> None:
        for stdin in ("/nick tess\n", ""):
            result = run_client("localhost", str(self.daemon.port), stdin=stdin)
            self.assertEqual(result.returncode, 1, stdin)
            self.assertEqual(result.stdout, "")
            self.assertIn(f"localhost:{self.daemon.port} closed the connection without a "
                          "greeting: that port probably expects TLS; try --tls", result.stderr)

    def test_refused_without_the_ca(self) -> None:
        result = run_client("--tls", "localhost", str(self.daemon.port), stdin="/nick tess\n")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertIn("TLS: the certificate of localhost could not be verified", result.stderr)
        self.assertIn("pass it with --ca FILE", result.stderr)

    def test_refused_with_another_ca(self) -> None:
        other = self.path()
        other.mkdir()
        wrong_ca, _, _ = make_tls_files(other)
        result = run_client("--tls", "--ca", str(wrong_ca), "localhost",
                            str(self.daemon.port), stdin="/nick tess\n")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"is {wrong_ca} the CA that signed the server's certificate?",
                      result.stderr)

    def test_an_unreadable_ca_file_is_a_usage_error(self) -> None:
        missing = self.path()
        result = run_client("--tls", "--ca", str(missing), "localhost", str(self.daemon.port),
                            stdin="")
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"can't read CA file {missing}", result.stderr)
