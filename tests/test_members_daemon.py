"""``twistd chatd-members`` as a real process: durability under SIGKILL, the secret, the lock,
and chatd-admin against it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.protocols import amp
from twisted.trial.unittest import TestCase

from chatd.members import commands
from chatd.members.secret import greet

from tests.integration.harness import (
    CHEAP_HASH,
    TWISTD,
    Daemon,
    daemon_env,
    last_line,
    run_twistd,
)

pytestmark = pytest.mark.daemon

_PORT = re.compile(r"MemberServerFactory starting on (\d+)")


class MembersDaemon:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.cwd = Path(tempfile.mkdtemp(prefix="chatd-members-"))
        self.log = self.cwd / "members.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def args(self, port: int = 0) -> list[str]:
        return ["-n", "chatd-members", "--listen", f"tcp:{port}:interface=127.0.0.1",
                "--data", str(self.data), *CHEAP_HASH]

    def start(self, port: int = 0) -> MembersDaemon:
        start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(TWISTD), *self.args(port)], cwd=self.cwd,
                                            env=daemon_env(), stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[start:].decode(errors="replace")
            found = _PORT.search(text)
            if found and "accounts in" in text:
                self.port = int(found.group(1))
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"chatd-members did not start:\n{self.log.read_text()}")

    @property
    def secret(self) -> str:
        return (self.data / "members.secret").read_text().strip()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)


class MembersDaemonTests(TestCase):
    def setUp(self) -> None:
        self.data = Path(self.mktemp()).absolute()
        self.daemon = MembersDaemon(self.data).start()
        self.addCleanup(self.daemon.kill)

    async def connect(self, proved: bool = True) -> amp.AMP:
        protocol = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.daemon.port), amp.AMP()
        )
        self.addCleanup(protocol.transport.loseConnection)  # type: ignore[union-attr]
        if proved:
            await greet(protocol, self.daemon.secret)
        return protocol

    async def test_secret_file_is_private(self) -> None:
        self.assertEqual(os.stat(self.data / "members.secret").st_mode & 0o777, 0o600)

    async def test_a_client_without_the_secret_is_refused_and_logged(self) -> None:
        protocol = await self.connect(proved=False)
        await protocol.callRemote(commands.Challenge, nonce=b"n" * 32)
        with self.assertRaises(commands.BadSecret):
            await protocol.callRemote(commands.Prove, proof=b"a guess" * 4)
        deadline = reactor.seconds() + 30  # ends when logged; the bound is for a loaded machine
        while reactor.seconds() < deadline:
            if "wrong member-service secret (the client's proof" in self.daemon.log.read_text():
                return
            await deferLater(reactor, 0.02, lambda: None)
        self.fail("the refusal was not logged")

    async def test_acknowledged_signups_survive_sigkill(self) -> None:
        """Signups stream in, 8 at a time; the daemon is killed mid-stream. Every signup
        whose reply arrived must be there after a restart."""
        protocol = await self.connect()
        acknowledged: list[str] = []
        killed: Deferred[None] = Deferred()

        def one(i: int) -> Deferred[None]:
            name = f"user{i:04d}"
            d = protocol.callRemote(commands.Signup, name=name, password="password1")

            def ok(_: object) -> Deferred[None] | None:
                acknowledged.append(name)
                if len(acknowledged) == 150:
                    self.daemon.kill()
                    killed.callback(None)
                    return None
                return None if killed.called else one(i + 8)

            return d.addCallbacks(ok, lambda _: None)

        await DeferredList([one(i) for i in range(8)])
        self.assertTrue(killed.called)
        self.assertGreaterEqual(len(acknowledged), 150)

        self.daemon.start()
        again = await self.connect()
        for name in acknowledged:
            found = await again.callRemote(commands.Lookup, name=name)
            self.assertEqual(found["name"], name)
            await again.callRemote(commands.Authenticate, name=name, password="password1",
                                   peer="")

    async def test_second_daemon_refuses_the_same_data(self) -> None:
        other = MembersDaemon(self.data)
        second = run_twistd(other.args(), cwd=other.cwd)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("in use by another daemon", second.stdout + second.stderr)

    async def test_chatd_admin(self) -> None:
        protocol = await self.connect()
        await protocol.callRemote(commands.Signup, name="Ann", password="password1")
        secret_file = str(self.data / "members.secret")

        def admin(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-c", "from chatd.members.admin import main; main()",
                 "--members", f"tcp:127.0.0.1:{self.daemon.port}", "--secret-file",
                 secret_file, *args],
                input=stdin, capture_output=True, text=True, timeout=20, env=daemon_env(),
            )

        listed = admin("list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("Ann", listed.stdout)
        self.assertIn("1 account\n", listed.stdout)
        self.assertEqual(admin("lock", "ann").returncode, 0)
        with self.assertRaises(Exception) as raised:
            await protocol.callRemote(commands.Authenticate, name="ann", password="password1",
                                      peer="")
        self.assertIn("locked", str(raised.exception))
        self.assertEqual(admin("unlock", "ann").returncode, 0)
        reset = admin("reset", "ann", stdin="password2\n")
        self.assertEqual(reset.returncode, 0, reset.stderr)
        await protocol.callRemote(commands.Authenticate, name="ann", password="password2",
                                  peer="")
        missing = admin("show", "nobody")
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("no account called nobody", missing.stderr)
        self.assertEqual(admin("delete", "ann").returncode, 0)
        self.assertIsNone((await protocol.callRemote(commands.Lookup, name="ann"))["name"])
        wrong = subprocess.run(
            [sys.executable, "-c", "from chatd.members.admin import main; main()",
             "--members", f"tcp:127.0.0.1:{self.daemon.port}", "--secret-file",
             str(Path(self.mktemp())), "list"],
            capture_output=True, text=True, timeout=20, env=daemon_env(),
        )
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn("chatd-admin:", wrong.stderr)


class SecondDaemonOnTheSocketTests(TestCase):
    """The default endpoint, a unix socket in the data directory: twistd binds it before any
    service starts, so a second daemon fails there, and must say so in one line."""

    def setUp(self) -> None:
        # Short paths: a unix socket's path has at most 107 bytes.
        self.data = Path(tempfile.mkdtemp(prefix="cm-"))
        self.addCleanup(shutil.rmtree, self.data, True)
        self.first = MembersDaemon(self.data)
        self.addCleanup(shutil.rmtree, self.first.cwd, True)
        self.addCleanup(self.first.kill)
        with self.first.log.open("ab") as log:
            self.first.process = subprocess.Popen(
                [str(TWISTD), "-n", "--pidfile=", "chatd-members", "--data", str(self.data),
                 *CHEAP_HASH], cwd=self.first.cwd, env=daemon_env(), stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while "accounts in" not in self.first.log.read_text():
            if time.monotonic() > deadline or self.first.process.poll() is not None:
                self.fail(f"chatd-members did not start:\n{self.first.log.read_text()}")
            time.sleep(0.05)

    def refused(self, *args: str) -> str:
        """Run a second daemon; it must exit non-zero with no traceback. Its last line."""
        second = run_twistd(["-n", "--pidfile=", "chatd-members", *args, *CHEAP_HASH],
                            cwd=self.first.cwd)
        output = second.stdout + second.stderr
        self.assertNotEqual(second.returncode, 0, output)
        self.assertNotIn("Traceback", output)
        return last_line(output)

    def test_a_second_daemon_on_the_same_data_says_one_is_already_running(self) -> None:
        last = self.refused("--data", str(self.data))
        self.assertIn(f"chatd-members: --listen unix:{self.data}/members.sock:mode=600:lockfile=1"
                      " is in use: chatd-members (or another program) is already running there",
                      last)

    def test_a_second_daemon_on_the_same_socket_says_one_is_already_running(self) -> None:
        other = Path(tempfile.mkdtemp(prefix="cm-"))
        self.addCleanup(shutil.rmtree, other, True)
        socket = f"unix:{self.data}/members.sock:lockfile=1"
        last = self.refused("--data", str(other), "--listen", socket)
        self.assertIn(f"chatd-members: --listen {socket} is in use: chatd-members (or another "
                      "program) is already running there; stop it or choose another --listen", last)


class ChatWithRemoteMembersTests(TestCase):
    """Both daemons as real processes: chatd --members talks AMP to chatd-members."""

    def setUp(self) -> None:
        self.members = MembersDaemon(Path(self.mktemp()).absolute()).start()
        self.addCleanup(self.members.kill)
        self.chat = Daemon(Path(self.mktemp()).absolute(), [
            "--members", f"tcp:127.0.0.1:{self.members.port}",
            "--members-secret", str(self.members.data / "members.secret"),
        ]).start()
        self.addCleanup(self.chat.cleanup)

    def login_code(self, command: str) -> int:
        client = self.chat.connect()
        try:
            return client.command(command).code
        finally:
            client.close()

    def until(self, condition: object, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        self.fail(f"timed out after {seconds}s waiting for {what}")

    def test_login_outage_and_recovery(self) -> None:
        self.until(lambda: self.login_code("/signup Remy password1") == 201, 10,
                   "the first connection to the member service")
        alice = self.chat.connect()
        alice.login("login", "remy", "password1")
        alice.ok("/join lobby")
        bob = self.chat.connect()
        bob.login("nick", "bob")
        bob.ok("/join lobby")

        self.members.kill()
        started = time.monotonic()
        self.until(lambda: self.login_code("/login remy password1") == 502, 10,
                   "logins to fail with 502 while accounts are down")
        self.assertLess(time.monotonic() - started, 10)
        client = self.chat.connect()
        answer = client.command("/login remy password1")
        self.assertEqual(answer.code, 502)
        self.assertIn("accounts are unavailable", answer.text)
        client.close()
        alice.send("still chatting")
        bob.wait_event("101 [lobby] <Remy> still chatting")

        self.members.start(self.members.port)
        self.until(lambda: self.login_code("/login remy password1") == 201, 20,
                   "chatd to reconnect to the member service by itself")
        self.assertEqual(self.login_code("/signup Remy password2"), 409)
        alice.close()
        bob.close()

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from chatd.members.admin import main; main()",
             "--members", f"tcp:127.0.0.1:{self.members.port}",
             "--secret-file", str(self.members.data / "members.secret"), *args],
            capture_output=True, text=True, timeout=20, env=daemon_env(),
        )

    def test_a_deleted_accounts_sessions_end_and_its_name_gets_none_of_its_rooms(self) -> None:
        self.until(lambda: self.login_code("/signup victim password1") == 201, 10,
                   "the first connection to the member service")
        victim = self.chat.connect()
        victim.login("login", "victim", "password1")
        victim.ok("/create vault 10 sesame")
        bob = self.chat.connect()
        bob.login("nick", "bob")
        bob.ok("/join vault sesame")

        deleted = self.admin("delete", "victim")
        self.assertEqual(deleted.returncode, 0, deleted.stderr)
        self.assertIn("victim deleted; its sessions on every connected chat daemon were ended",
                      deleted.stdout)
        bob.wait_event("104 [vault] victim quit: account deleted by an operator")
        self.assertEqual([str(line) for line in victim.wait_closed()][-1:],
                         ["109 account deleted by an operator"], "its session has ended")

        again = self.chat.connect()
        again.login("signup", "victim", "password2")
        self.assertEqual(again.command("/unlock vault").code, 403)
        self.assertEqual(again.command("/delete vault").code, 403)
        self.assertEqual(again.command("/join vault").code, 431)
        for client in (victim, bob, again):
            client.close()

    def test_wrong_secret_means_no_accounts(self) -> None:
        wrong = Path(self.mktemp()).absolute()
        wrong.write_text("x" * 40 + "\n")
        wrong.chmod(0o600)
        chat = Daemon(Path(self.mktemp()).absolute(), [
            "--members", f"tcp:127.0.0.1:{self.members.port}", "--members-secret", str(wrong),
        ]).start()
        self.addCleanup(chat.cleanup)
        client = chat.connect()
        self.assertEqual(client.command("/login anyone password1").code, 502)
        client.close()
        # chatd finds the service's proof wrong (with its own secret), and sends no proof.
        self.until(lambda: "not trusted: what answers at the member service's address did "
                   "not prove it knows the shared secret" in chat.run_log(), 10,
                   "chatd to log the refusal")

    def test_secret_file_readable_by_others_is_refused(self) -> None:
        loose = Path(self.mktemp()).absolute()
        loose.write_text("y" * 40 + "\n")
        loose.chmod(0o644)
        result = run_twistd(["-n", "chatd", "--data", str(Path(self.mktemp()).absolute()),
                             "--members", "tcp:127.0.0.1:1", "--members-secret", str(loose)],
                            cwd=self.chat.cwd)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("readable by others", (result.stdout + result.stderr).splitlines()[-1])
