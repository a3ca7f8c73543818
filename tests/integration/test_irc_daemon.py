"""The real daemon (``twistd -n chatd --irc ...``) with IRC and line clients over loopback.

One test drives WeeChat (``weechat-headless``, Debian's package) as an IRC client with SASL;
the others speak IRC over a plain or TLS socket with bounded reads. The daemon's IRC port is
read from its log, as the harness does for the line port.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import pytest
from twisted.words.protocols.irc import parsemsg

from tests.integration.harness import (
    READ_TIMEOUT,
    Daemon,
    LineClient,
    account,
    guest,
    make_tls_files,
)

PASSWORD = "correct-horse"
_IRC_PORT = re.compile(r"IRCFactory(?: \(TLS\))? starting on (\d+)")
WEECHAT = shutil.which("weechat-headless")


def irc_port(daemon: Daemon) -> int:
    found = _IRC_PORT.search(daemon.run_log())
    if found is None:
        raise AssertionError(f"no IRC listener in the log:\n{daemon.run_log()}")
    return int(found.group(1))


class IrcSocket:
    """A blocking IRC connection that reads until a given command, with a deadline."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.sock = tls.wrap_socket(sock, server_hostname="localhost") if tls else sock
        self._buffer = b""
        self.tags: dict[str, str] = {}  # the tags of the last message read

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(f"{line}\r\n" for line in lines).encode())

    def until(self, command: str) -> list[tuple[str, str, list[str]]]:
        """Every message up to and including the first ``command``."""
        deadline = time.monotonic() + READ_TIMEOUT
        seen: list[tuple[str, str, list[str]]] = []
        while True:
            while b"\r\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {command} within {READ_TIMEOUT}s; saw {seen}")
                self.sock.settimeout(remaining)
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    raise AssertionError(f"closed before {command}; saw {seen}")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\r\n")
            text = raw.decode("utf-8")
            self.tags = {}
            if text.startswith("@"):  # message tags (values left escaped): kept apart
                head, _, text = text.partition(" ")
                self.tags = dict(item.partition("=")[::2] for item in head[1:].split(";"))
            message = parsemsg(text)
            seen.append(message)
            if message[1] == command:
                return seen

    def close(self) -> None:
        self.sock.close()


class IRCDaemonTestCase(unittest.TestCase):
    def start(self, *extra: str) -> Daemon:
        data = tempfile.TemporaryDirectory(prefix="chatd-it-irc-")
        self.addCleanup(data.cleanup)
        daemon = Daemon(Path(data.name) / "data", extra)
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        return daemon.start()


@pytest.mark.daemon
class IRCDaemonTests(IRCDaemonTestCase):
    def test_guest_and_line_user_talk_then_quit(self) -> None:
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        owner = account(daemon, "signup", "owner", PASSWORD)
        self.addCleanup(owner.close)
        owner.ok(f"/create vault 10 {PASSWORD}")
        irc = IrcSocket(irc_port(daemon))
        self.addCleanup(irc.close)
        irc.send("NICK ann", "USER ann 0 * :Ann")
        self.assertEqual(irc.until("001")[-1][2][0], "ann")
        irc.send("JOIN #vault")
        self.assertEqual(irc.until("475")[-1][2][1], "#vault")
        irc.send(f"JOIN #vault {PASSWORD}")
        names = irc.until("366")
        self.assertIn(("ann!ann@chatd", "JOIN", ["#vault"]), names)
        owner.wait_event("103 [vault] ann joined (2 members)")
        irc.send("PRIVMSG #vault :hello from IRC")
        owner.wait_event("101 [vault] <ann> hello from IRC")
        owner.send("hello from the line")
        self.assertEqual(irc.until("PRIVMSG")[-1],
                         ("owner!owner@chatd", "PRIVMSG", ["#vault", "hello from the line"]))
        irc.send("QUIT :bye")
        self.assertEqual(irc.until("ERROR")[-1][2], ["Closing link: Quit: bye"])
        owner.wait_event("104 [vault] ann quit: bye")

    def test_tls_listener(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="chatd-it-tls-"))
        self.addCleanup(shutil.rmtree, directory)
        ca, key, cert = make_tls_files(directory)
        daemon = self.start(
            "--irc", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}")
        context = ssl.create_default_context(cafile=str(ca))
        irc = IrcSocket(irc_port(daemon), tls=context)
        self.addCleanup(irc.close)
        irc.send("NICK tess", "USER tess 0 * :Tess")
        self.assertEqual(irc.until("001")[-1][2][0], "tess")

    def test_irc_is_off_unless_asked_for(self) -> None:
        daemon = self.start()
        self.assertIsNone(_IRC_PORT.search(daemon.run_log()))


@pytest.mark.external
class WeeChatTests(IRCDaemonTestCase):
    """WeeChat, a real IRC client, against the daemon."""

    def test_weechat_with_sasl(self) -> None:
        if WEECHAT is None:
            # CI installs it (.ci/run), so there the test always runs; a developer's
            # machine without it still passes the README's test command.
            if os.environ.get("CI"):
                self.fail("weechat-headless is needed: apt-get install weechat-headless")
            raise unittest.SkipTest("apt-get install weechat-headless to run this test")
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        account(daemon, "signup", "weebot", PASSWORD).close()
        bob: LineClient = guest(daemon, "bob")
        self.addCleanup(bob.close)
        bob.ok("/join lobby")
        home = Path(tempfile.mkdtemp(prefix="chatd-it-weechat-"))
        self.addCleanup(shutil.rmtree, home)
        server = "irc.server.chatd"
        # Run after the welcome: talk, then quit while bob is still there to see it.
        after = r"/wait 1 /msg #lobby hello from weechat\;/wait 4 /quit bye from weechat"
        commands = ";".join([
            f"/server add chatd 127.0.0.1/{irc_port(daemon)} -notls",
            f"/set {server}.nicks weebot",
            f"/set {server}.sasl_mechanism plain",
            f"/set {server}.sasl_username weebot",
            f"/set {server}.sasl_password {PASSWORD}",
            f"/set {server}.autojoin #lobby",
            f'/set {server}.command "{after}"',
            "/connect chatd",
        ])
        weechat = subprocess.Popen(
            [str(WEECHAT), "--stdout", "-d", str(home), "-r", commands],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            bob.wait_event("103 [lobby] weebot joined (2 members)", timeout=10)
            bob.send("hello weechat")
            bob.wait_event("101 [lobby] <weebot> hello from weechat", timeout=10)
            bob.wait_event("104 [lobby] weebot quit: bye from weechat", timeout=10)
            self.assertEqual(weechat.wait(10), 0)
        finally:
            if weechat.poll() is None:
                weechat.kill()
                weechat.wait(5)
        channel_log = (home / "logs" / "irc.chatd.#lobby.weechatlog").read_text()
        self.assertIn("bob\thello weechat", channel_log)
        server_log = (home / "logs" / "irc.server.chatd.weechatlog").read_text()
        self.assertIn("SASL authentication successful", server_log)
        # WeeChat asks for every capability it knows: live lines come tagged (server-time,
        # message-tags), joins extended, and it still shows each message once, as sent.
        enabled = re.search(r"client capability, enabled: (.*)", server_log)
        assert enabled is not None, server_log
        for cap in ("server-time", "message-tags", "extended-join", "away-notify"):
            self.assertIn(cap, enabled.group(1).split())
        self.assertIn("weebot [weebot]", channel_log)  # extended-join's account
        self.assertEqual(channel_log.count("hello from weechat"), 1)

    def test_weechat_labeled_response_monitor_and_typing(self) -> None:
        """WeeChat with labeled-response (it asks for it when told to), MONITOR (its
        ``/notify`` list) and a typing notification (``TAGMSG``) that a client with
        message-tags sees. A trigger prints what WeeChat reads into its core buffer's log;
        its FIFO tells it when to quit."""
        if WEECHAT is None:
            if os.environ.get("CI"):
                self.fail("weechat-headless is needed: apt-get install weechat-headless")
            raise unittest.SkipTest("apt-get install weechat-headless to run this test")
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        port = irc_port(daemon)
        watcher = IrcSocket(port)
        self.addCleanup(watcher.close)
        watcher.send("CAP REQ :message-tags", "NICK obs", "USER obs 0 * :Obs", "CAP END",
                     "JOIN #lobby")
        watcher.until("366")
        home = Path(tempfile.mkdtemp(prefix="chatd-it-weechat-"))
        self.addCleanup(shutil.rmtree, home)
        server = "irc.server.chatd"
        after = (r"/wait 1 /quote @label=wee1 PING label-check"
                 r"\;/wait 2 /quote @+typing=active TAGMSG #lobby")
        commands = ";".join([
            f"/server add chatd 127.0.0.1/{port} -notls",
            f"/set {server}.nicks weetag",
            f'/set {server}.capabilities "*,labeled-response"',
            f"/set {server}.autojoin #lobby",
            f'/set {server}.command "{after}"',
            "/set logger.file.flush_delay 0",
            "/notify add zed chatd",
            # ${raw:...}: -r evaluates its commands; the trigger's command is evaluated later.
            '/trigger add rawin signal "*,irc_in2_*" "" "" '
            '"/print -core rawin ${raw:${tg_signal_data}}"',
            "/connect chatd",
        ])
        weechat = subprocess.Popen(
            [str(WEECHAT), "--stdout", "-d", str(home), "-r", commands],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        core_log = home / "logs" / "core.weechat.weechatlog"
        server_log = home / "logs" / "irc.server.chatd.weechatlog"

        def logged(path: Path, pattern: str, timeout: float = 30) -> None:
            """Wait for a line matching ``pattern`` (the server's name is the host's)."""
            deadline = time.monotonic() + timeout
            while not (path.exists() and re.search(pattern, path.read_text())):
                self.assertLess(time.monotonic(), deadline, f"{pattern!r} not in {path.name}")
                time.sleep(0.2)

        try:
            watcher.until("TAGMSG")
            self.assertEqual(watcher.tags.get("+typing"), "active")
            self.assertIn("msgid", watcher.tags)
            logged(core_log, r"rawin @label=wee1 :\S+ PONG \S+ label-check")
            zed = IrcSocket(port)
            self.addCleanup(zed.close)
            zed.send("NICK zed", "USER zed 0 * :Zed")
            zed.until("376")
            logged(server_log, r"notify: zed \(zed@chatd\) is connected")
            zed.send("QUIT :gone")
            logged(core_log, r"rawin :\S+ 731 weetag zed")
            [fifo] = home.glob("weechat_fifo*")
            fifo.write_text("*/quit bye\n")
            self.assertEqual(weechat.wait(10), 0)
        finally:
            if weechat.poll() is None:
                weechat.kill()
                weechat.wait(5)
        enabled = re.search(r"client capability, enabled: (.*)", server_log.read_text())
        assert enabled is not None
        self.assertIn("labeled-response", enabled.group(1).split())

    def test_weechat_ops_kicks_bans_and_changes_nick(self) -> None:
        """WeeChat opens a temporary channel (so it is its operator), makes a line user an
        operator, kicks and bans another, and changes its nick; the line users see each."""
        if WEECHAT is None:
            if os.environ.get("CI"):
                self.fail("weechat-headless is needed: apt-get install weechat-headless")
            raise unittest.SkipTest("apt-get install weechat-headless to run this test")
        daemon = self.start("--irc", "tcp:0:interface=127.0.0.1")
        bob, carl = guest(daemon, "bob"), guest(daemon, "carl")
        self.addCleanup(bob.close)
        self.addCleanup(carl.close)
        home = Path(tempfile.mkdtemp(prefix="chatd-it-weechat-"))
        self.addCleanup(shutil.rmtree, home)
        server = "irc.server.chatd"
        # Seconds after the welcome; bob and carl join (below) once weechat has the channel.
        # Three seconds apart: WeeChat queues its lines 2 s apart (anti-flood), and its QUIT
        # would pass a queued NICK.
        after = (r"/wait 5 /mode #mod +o bob\;/wait 8 /kick #mod carl go away"
                 r"\;/wait 11 /ban #mod carl\;/wait 14 /nick weenew\;/wait 17 /quit done")
        commands = ";".join([
            f"/server add chatd 127.0.0.1/{irc_port(daemon)} -notls",
            f"/set {server}.nicks weeop",
            f"/set {server}.autojoin #mod",
            f'/set {server}.command "{after}"',
            "/connect chatd",
        ])
        weechat = subprocess.Popen(
            [str(WEECHAT), "--stdout", "-d", str(home), "-r", commands],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while bob.command("/who mod").code != 211:
                self.assertLess(time.monotonic(), deadline, "weechat never joined #mod")
                time.sleep(0.2)
            bob.ok("/join mod")
            carl.ok("/join mod")
            bob.wait_event("106 [mod] weeop: made bob an operator", timeout=15)
            carl.wait_event("104 [mod] carl was kicked by weeop: go away", timeout=10)
            bob.wait_event(lambda line: line.code == 106 and "banned carl" in line.text,
                           timeout=10)
            bob.wait_event("114 weeop is now called weenew", timeout=10)
            self.assertEqual(carl.command("/join mod").code, 436)
            bob.wait_event("104 [mod] weenew quit: done", timeout=10)
            self.assertEqual(weechat.wait(10), 0)
        finally:
            if weechat.poll() is None:
                weechat.kill()
                weechat.wait(5)
        server_log = (home / "logs" / "irc.server.chatd.weechatlog").read_text()
        self.assertIn("weenew", server_log)
