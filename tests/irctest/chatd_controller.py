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


class ChatdController(BaseServerController, DirectoryBasedController):
    software_name = "chatd"
    _port_wait_interval = 0.05
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False

    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.EXTENDED_MONITOR,
            Capabilities.LABELED_RESPONSE,
            Capabilities.SETNAME,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.SERVER_TIME,
        )
    )

    optional_behaviors: frozenset[OptionalBehaviors] = frozenset()

    isupport: dict[str, Any] = {
        "CASEMAPPING": patma.ANYSTR,
        "PREFIX": patma.ANYSTR,
        "MONITOR": patma.ANYSTR,
        "UTF8ONLY": patma.ANYSTR,
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
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
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
