"""irctest's controller for chatd: starts ``twistd -n chatd`` with an IRC listener.

irctest (``../shared/irctest``, never edited) imports this module by name
(``--controller chatd_controller``) and asks it to run the server for each test case. What
chatd supports is declared here, so a test that does not apply is skipped by irctest itself;
docs/irc.md lists the skips and why. Accounts for the SASL tests are made on chatd's line
listener (``/signup``), the way a user without IRC would make one.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities, OptionalBehaviors

#: The source tree under test: the daemon imports chatd (and finds its twistd plugin) here.
PROJECT = Path(__file__).resolve().parents[2]
#: The daemon's twistd: the project's venv (``.ci/run`` makes it), or ``CHATD_TWISTD``.
TWISTD = os.environ.get("CHATD_TWISTD", str(PROJECT / ".venv" / "bin" / "twistd"))
#: irctest's server operator (oper.py, kill.py, wallops.py): ``operuser`` with the password
#: ``operpassword``, declared as chatd declares every operator, by an argon2id hash (this one
#: made by ``chatd-admin oper-hash`` with the controller's cheap hash parameters).
OPER = ("operuser:$argon2id$v=19$m=8192,t=1,p=1$v4JmZpXs4e8J7MaHE7/+fQ"
        "$NHcXgt3OZsVXr+AEQZvH+VVtdc11gLCGdzU4AiRLrIs")
#: Names no guest may take: chatd's default list reserves ``ircop``, the nick kill.py's
#: operator connects with, so the suite runs with the services' names alone.
RESERVED = "chatd,services,nickserv,chanserv,saslserv,operserv"


class ChatdController(BaseServerController, DirectoryBasedController):
    software_name = "chatd"
    _port_wait_interval = 0.05
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False

    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_NOTIFY,
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.MESSAGE_REDACTION,
            Capabilities.EXTENDED_MONITOR,
            Capabilities.LABELED_RESPONSE,
            Capabilities.SETNAME,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.READ_MARKER,
            Capabilities.SERVER_TIME,
        )
    )

    optional_behaviors: frozenset[OptionalBehaviors] = frozenset(
        (OptionalBehaviors.SASL_AFTER_REGISTRATION,)
    )

    #: Tests that expect a logged-in user's nick to differ from its account's name (chatd's
    #: nick is the account's name: a login takes it, a login after the welcome renames the
    #: guest to it): docs/irc.md, "irctest", gives each one's reason. Parametrized tests are
    #: named without their ``[...]``.
    NICK_IS_THE_ACCOUNT = frozenset(
        (
            "testPlainPostRegistrationAndReAuthenticate",  # sasl.py
            "testPlainReAuthenticate",  # sasl.py
            "testWhoxAccount",  # who.py
            "testWhoisNumerics",  # whois.py, ServicesWhoisTestCase
            "testWhoisAccount",  # whois.py
            "testExtendedMonitorAccountNotify",  # monitor.py
            "testExtendedMonitorAccountNotifyNoCap",  # monitor.py
        )
    )

    isupport: dict[str, Any] = {
        "CASEMAPPING": patma.ANYSTR,
        "PREFIX": patma.ANYSTR,
        "USERLEN": "10",
        "WHOX": None,
        "MONITOR": patma.ANYSTR,
        "UTF8ONLY": None,
        "BOT": patma.ANYSTR,
    }

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None = None,
        websocket_port: int | None = None,
    ) -> None:
        if password is not None:
            raise NotImplementedByController("PASS (a server password)")
        if ssl:
            raise NotImplementedByController("TLS")
        # IRC over WebSocket (text.ircv3.net, binary.ircv3.net) is served by the web
        # listener, at / as at /ws.
        web = []
        if websocket_port is not None:
            web = ["--web", f"tcp:{websocket_port}:interface={websocket_hostname or hostname}"]
            # The websocket tests send a line on one connection and at once a PING on
            # another, expecting the first line's relay before the PONG; the server may read
            # the two sockets in either order, so the client waits a moment before its PING.
            self.sync_sleep_time = 0.02
        if self.test_config.account_registration_requires_email:
            # chatd keeps no email addresses: REGISTER takes and drops the email.
            raise NotImplementedByController("account registration requiring an email")
        before_connect = self.test_config.account_registration_before_connect
        assert self.proc is None
        self.create_config()
        assert self.directory is not None
        self.port = port
        self.hostname = hostname
        (_, self.line_port) = self.get_hostname_and_port()
        self.proc = self.execute(
            [
                TWISTD,
                "-n",
                "--pidfile=",
                "-l",
                str(self.directory / "chatd.log"),
                "chatd",
                "--data",
                str(self.directory / "data"),
                "--irc",
                f"tcp:{port}:interface={hostname}",
                "--line",
                f"tcp:{self.line_port}:interface={hostname}",
                "--server-name",
                "My.Little.Server",
                "--exempt",
                "127.0.0.0/8",
                "--exempt",
                "::1/128",
                "--hash-memory-kib",
                "8192",
                "--hash-time-cost",
                "1",
                "--hash-parallelism",
                "1",
                "--history-replay",
                "0",
                # chathistory.py asks for the history of private messages between accounts.
                "--history-private",
                # irctest's accounts have passwords such as "sesame" and "bar".
                "--min-password-length",
                "1",
                "--irc-register-before-connect",
                "true" if before_connect else "false",
                "--oper",
                OPER,
                # chatd's default reserved names include "root" and "ircop", which irctest's
                # account registration and kill tests take as nicks.
                "--reserved-names",
                RESERVED,
                *web,
            ],
            proc_name="chatd",
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )

    def registerUser(
        self,
        case: Any,
        username: str,
        password: str | None = None,
    ) -> None:
        """Sign ``username`` up on the line listener, as a user would with telnet."""
        # irctest's cases are pytest-style: the test running is pytest's to say.
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
        test = test.split("[")[0]
        if test in self.NICK_IS_THE_ACCOUNT:
            raise NotImplementedByController(
                "a nick other than the account's name after SASL (chatd's nick is the account)")
        self.wait_for_port()
        deadline = time.monotonic() + 15
        with socket.create_connection((self.hostname, self.line_port), timeout=15) as sock:
            sock.sendall(f"/signup {username} {password}\r\n".encode())
            received = b""
            while time.monotonic() < deadline:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
                for line in received.split(b"\n"):
                    if line.startswith(b"201 "):
                        sock.sendall(b"/quit\r\n")
                        return
                    if line[:1] in (b"4", b"5"):
                        raise AssertionError(f"chatd refused the signup: {line!r}")
        raise AssertionError(f"chatd did not acknowledge the signup: {received!r}")

    def wait_for_services(self) -> None:
        """Accounts live in the daemon itself (the embedded member service)."""


def get_irctest_controller_class() -> type[ChatdController]:
    return ChatdController
