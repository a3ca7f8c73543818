"""The daemon as an operator runs it: options, config file, restarts, crashes, locks, TLS."""

from __future__ import annotations

import signal
import ssl
import tempfile
import time
import unittest
from pathlib import Path

import pytest

from tests.integration.harness import (
    CHEAP_HASH,
    Daemon,
    LineClient,
    account,
    guest,
    last_line,
    make_tls_files,
    run_twistd,
)

pytestmark = pytest.mark.daemon

PASSWORD = "s3cret-pass"


class DaemonTestCase(unittest.TestCase):
    """Each test gets a fresh temporary directory; daemons started are always stopped."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="chatd-it-")
        self.tmp = Path(self._tmp.name)
        self.data = self.tmp / "data"
        self.daemons: list[Daemon] = []
        self.clients: list[LineClient] = []

    def tearDown(self) -> None:
        for client in self.clients:
            client.close()
        try:
            for daemon in self.daemons:
                self.assertEqual(daemon.problems(), [], daemon.run_log())
        finally:
            for daemon in self.daemons:
                daemon.cleanup()
            self._tmp.cleanup()

    def daemon(self, *extra: str, data: Path | None = None) -> Daemon:
        daemon = Daemon(self.data if data is None else data, extra)
        self.daemons.append(daemon)
        return daemon.start()

    def track(self, client: LineClient) -> LineClient:
        self.clients.append(client)
        return client

    def failed_start(self, *args: str, timeout: float = 8.0) -> str:
        """Run twistd with ``args``; it must exit non-zero, promptly and without a
        traceback. Its last line of output."""
        result = run_twistd(["-n", "chatd", "--data", str(self.data), *CHEAP_HASH, *args],
                            cwd=self.tmp, timeout=timeout)
        output = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        self.assertNotEqual(result.returncode, 0, output)
        self.assertNotIn("Traceback", output)
        return last_line(result.stderr) or last_line(result.stdout)


class PersistenceTests(DaemonTestCase):
    def test_restart_keeps_accounts_and_created_rooms(self) -> None:
        daemon = self.daemon()
        owner = self.track(account(daemon, "signup", "Rita", PASSWORD))
        owner.ok("/create Keep 5 pa55word")
        owner.ok("/topic keep Knitting club")
        owner.ok("/create Open 3")
        owner.ok("/limit open 4")
        owner.ok("/join Scratch")
        owner.ok("/create Gone")
        owner.ok("/delete gone")
        owner.ok(f"/passwd {PASSWORD} new-{PASSWORD}")
        visitor = self.track(guest(daemon, "Gina"))
        visitor.ok("/join open")
        # twistd re-raises the SIGTERM it stopped on, so -15 is a clean exit too.
        self.assertIn(daemon.stop(), (0, -signal.SIGTERM), daemon.run_log())
        self.assertIn("Server Shut Down.", daemon.run_log())
        for client in (owner, visitor):
            client.wait_closed()

        daemon.start()
        back = self.track(daemon.connect())
        self.assertEqual(back.command(f"/login rita {PASSWORD}").code, 430)
        back.login("login", "rita", f"new-{PASSWORD}")
        listing = back.ok("/rooms", 210)
        self.assertEqual(
            listing.lines,
            ("Keep 0/5 locked owned by Rita: Knitting club", "Open 0/4 open owned by Rita"),
        )
        self.assertEqual(listing.text, "2 rooms")
        visitor = self.track(daemon.connect())
        self.assertEqual(visitor.command("/nick RITA").code, 409)
        visitor.login("nick", "Gina")
        self.assertEqual(visitor.command("/join keep wrong-one").code, 431)
        joined = visitor.ok("/join keep pa55word")
        self.assertIn("topic: Knitting club", joined.text)
        # Still Rita's: she can change it, Gina can't.
        self.assertEqual(visitor.command("/topic keep mine").code, 403)
        back.ok("/unlock keep")

    def test_acknowledged_writes_survive_sigkill(self) -> None:
        daemon = self.daemon()
        first = self.track(daemon.connect())
        first.login("signup", "Kim", PASSWORD)
        daemon.kill()  # at once after the 201

        daemon.start()
        owner = self.track(daemon.connect())
        owner.login("login", "kim", PASSWORD)
        owner.ok("/create Bunker 9")
        daemon.kill()  # at once after the 200

        daemon.start()
        again = self.track(daemon.connect())
        again.login("login", "KIM", PASSWORD)
        self.assertIn("Bunker 0/9 open owned by Kim", again.ok("/rooms", 210).lines)

    def test_many_signups_then_sigkill(self) -> None:
        daemon = self.daemon()
        names = [f"user{i}" for i in range(8)]
        clients = [self.track(daemon.connect()) for _ in names]
        for client, name in zip(clients, names, strict=True):
            client.send(f"/signup {name} {PASSWORD}")
        for client in clients:
            self.assertEqual(client.read_reply().code, 201)
        daemon.kill()
        daemon.start()
        for name in names:
            self.track(daemon.connect()).login("login", name, PASSWORD)


class LockTests(DaemonTestCase):
    def test_second_daemon_on_same_data_dir_refuses_to_start(self) -> None:
        first = self.daemon()
        started = time.monotonic()
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1")
        self.assertIn("lock", last.lower())
        self.assertIn(str(self.data), last)
        self.assertLess(time.monotonic() - started, 5, "a refused start must exit at once")
        # The first daemon is unharmed.
        self.track(guest(first, "StillHere"))


class LimitsTests(DaemonTestCase):
    def test_default_allows_two_sessions_of_one_account(self) -> None:
        daemon = self.daemon()
        self.track(account(daemon, "signup", "Twin", PASSWORD))
        self.track(account(daemon, "login", "twin", PASSWORD))

    def test_one_session_per_account_and_require_account(self) -> None:
        daemon = self.daemon("--max-sessions-per-account", "1", "--require-account")
        client = self.track(daemon.connect())
        refused = client.command("/nick Drifter")
        self.assertEqual(refused.code, 434, refused)
        client.login("signup", "Solo", PASSWORD)
        second = self.track(daemon.connect())
        self.assertEqual(second.command(f"/login solo {PASSWORD}").code, 433)
        self.assertEqual(client.command("/quit").code, 221)
        client.wait_closed()
        second.login("login", "solo", PASSWORD)

    def test_max_users(self) -> None:
        daemon = self.daemon("--max-users", "2")
        first = self.track(guest(daemon, "One"))
        self.track(account(daemon, "signup", "Two", PASSWORD))
        third = self.track(daemon.connect())
        self.assertEqual(third.command("/nick Three").code, 504)
        self.assertEqual(third.command(f"/login two {PASSWORD}").code, 504)
        refused = third.command(f"/signup Trio {PASSWORD}")
        self.assertEqual(refused.code, 504, refused)
        first.ok("/quit", 221)
        first.wait_closed()
        # Either the refused signup created nothing (the name is free again), or, as
        # docs/protocol.md says today, it created the account all the same; then the 504
        # must have said so ("/login later"), or the user can't know.
        again = third.command(f"/signup Trio {PASSWORD}")
        if again.code == 409:
            self.assertIn("/login", refused.text,
                          "a 504 for a /signup that created the account must say /login later")
            third.login("login", "trio", PASSWORD)
        else:
            self.assertEqual(again.code, 201, again)

    def test_idle_timeout_notice_to_room(self) -> None:
        daemon = self.daemon("--idle-timeout", "1")
        anonymous = self.track(daemon.connect())
        sleeper = self.track(guest(daemon, "Sleepy"))
        sleeper.ok("/join den")
        awake = self.track(guest(daemon, "Awake"))
        awake.ok("/join den")
        # Ends when the notice comes (about a second); the bound is for a loaded machine.
        deadline = time.monotonic() + 30
        while True:
            awake.send_raw(b"\r\n")  # blank lines do nothing but count as activity
            try:
                awake.wait_event("104 [den] Sleepy timed out", timeout=0.3)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        lines = sleeper.wait_closed()
        self.assertEqual([str(line) for line in lines if line.code == 109],
                         ["109 idle for 1 seconds; goodbye"])
        self.assertEqual([line.code for line in anonymous.wait_closed()], [109])


class OptionTests(DaemonTestCase):
    def test_bad_number(self) -> None:
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1", "--max-users", "abc")
        self.assertIn("--max-users", last)
        self.assertIn("abc", last)

    def test_out_of_range(self) -> None:
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1", "--max-line", "10")
        self.assertIn("--max-line", last)

    def test_unknown_config_key(self) -> None:
        config = self.tmp / "chatd.toml"
        config.write_text('max-users = 10\nbogus-setting = "x"\n')
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1",
                                 "--config", str(config))
        self.assertIn("bogus-setting", last)
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1",
                                 "--config", str(self.tmp / "absent.toml"))
        self.assertIn("--config", last)

    def test_bad_config_value(self) -> None:
        config = self.tmp / "chatd.toml"
        config.write_text('idle-timeout = "soon"\n')
        last = self.failed_start("--line", "tcp:0:interface=127.0.0.1",
                                 "--config", str(config))
        self.assertIn("idle-timeout", last)

    def test_bad_endpoint(self) -> None:
        last = self.failed_start("--line", "tcp:notaport")
        self.assertIn("--line", last)
        self.assertIn("the port must be a number", last)
        self.assertNotIn("invalid literal", last)
        last = self.failed_start("--line", "nosuchtype:1234")
        self.assertIn("--line", last)

    def test_a_bad_value_is_one_line_and_a_hint_not_the_usage(self) -> None:
        result = run_twistd(["-n", "chatd", "--data", str(self.data), "--max-users", "abc"],
                            cwd=self.tmp)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr.splitlines(), [
            "twistd chatd: --max-users: expected a whole number from 1 to 1000000, got 'abc' "
            "(see twistd chatd --help)"])

    def test_a_port_in_use_is_one_line_naming_the_option(self) -> None:
        first = self.daemon()
        taken = f"tcp:{first.port}:interface=127.0.0.1"
        other = self.tmp / "other"
        result = run_twistd(["-n", "--pidfile=", "chatd", "--data", str(other), *CHEAP_HASH,
                             "--line", taken], cwd=self.tmp)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        self.assertNotIn("Traceback", output)
        self.assertIn(f"chatd: --line {taken} is in use: chatd (or another program) is already "
                      "running there; stop it or choose another --line", last_line(output))
        self.assertEqual(len([line for line in output.splitlines() if "error" in line]), 1,
                         output)

    def test_missing_certificate(self) -> None:
        missing = self.tmp / "missing.pem"
        last = self.failed_start(
            "--line", f"ssl:0:interface=127.0.0.1:privateKey={missing}:certKey={missing}"
        )
        self.assertIn("--line", last)

    def test_config_file_used_and_command_line_wins(self) -> None:
        config = self.tmp / "chatd.toml"
        config.write_text(
            "default-room-limit = 3\nmax-line = 100\nmax-room-limit = 50\n"
            "require-account = true\n"
        )
        daemon = self.daemon("--config", str(config), "--max-line", "300")
        self.assertEqual(self.track(daemon.connect()).command("/nick Drifter").code, 434)
        client = self.track(account(daemon, "signup", "Conf", PASSWORD))
        client.ok("/join cfg")
        self.assertIn("cfg 1/3 open temporary", client.ok("/rooms", 210).lines)
        owner = self.track(account(daemon, "signup", "Cora", PASSWORD))
        self.assertEqual(owner.command("/create big 51").code, 400)
        owner.ok("/create big 50")
        # max-line 300 from the command line, not 100 from the file nor the default 2048.
        client.send("a" * 250)
        client.wait_event("101 [cfg] <Conf> " + "a" * 250)
        client.send("c" * 300)
        client.wait_event("101 [cfg] <Conf> " + "c" * 300)
        client.send("b" * 301)
        self.assertEqual(client.read_reply().code, 413)

    def test_plugin_is_listed(self) -> None:
        result = run_twistd(["--help"], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        commands = [line.split()[0] for line in result.stdout.splitlines()
                    if line.startswith("    ") and line.split()]
        self.assertIn("chatd", commands, result.stdout)
        result = run_twistd(["chatd", "--help"], cwd=self.tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in ("--line", "--config", "--data", "--max-sessions-per-account",
                       "--require-account", "--idle-timeout"):
            self.assertIn(option, result.stdout)


class TLSTests(DaemonTestCase):
    def test_chat_over_tls(self) -> None:
        ca, key, cert = make_tls_files(self.tmp)
        daemon = self.daemon(
            "--line", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
        )
        context = ssl.create_default_context(cafile=str(ca))
        first = self.track(LineClient.connect(daemon.port, tls=context))
        second = self.track(
            LineClient.connect(daemon.port, tls=context, server_hostname="127.0.0.1")
        )
        first.login("signup", "Tess", PASSWORD)
        second.login("nick", "Troy")
        first.ok("/join secure")
        second.ok("/join secure")
        first.wait_event("103 [secure] Troy joined (2 members)")
        second.send("over TLS")
        first.wait_event("101 [secure] <Troy> over TLS")
        # A client that does not trust the CA is refused by its own verification.
        with self.assertRaises(ssl.SSLCertVerificationError):
            LineClient.connect(daemon.port, tls=ssl.create_default_context())


if __name__ == "__main__":
    unittest.main()
