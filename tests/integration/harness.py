"""Run the real daemon (``twistd -n chatd``) in a subprocess and talk to it over loopback.

Everything here blocks, with a bound on every wait, so the tests read as a telnet session:
connect, read the greeting, type a line, read until the final reply. The parser of server
lines is written here on purpose instead of imported from ``chatd``: these tests check the
wire as a client sees it, so a codec bug can't hide by agreeing with itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TWISTD = Path(sys.executable).parent / "twistd"
# Cheap argon2 so that every signup and login takes milliseconds.
CHEAP_HASH = ("--hash-memory-kib", "1024", "--hash-time-cost", "1")
# The tests of a drop expect the departure it was before seats (chatd.core.seats); a test of
# seats gives its own --seat-grace, which comes later on the command line and wins.
NO_SEATS = ("--seat-grace", "0")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
READ_TIMEOUT = 5.0

_PORT_LINE = re.compile(rb"LineFactory(?: \(TLS\))? starting on (\d+)")


def daemon_env() -> dict[str, str]:
    """The environment twistd runs in: the source tree first, so the plugin is found there."""
    env = dict(os.environ)
    paths = [str(REPO), str(REPO / "clients")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("PYTHONSTARTUP", None)
    return env


def run_twistd(
    args: Sequence[str], cwd: Path, timeout: float = 20.0
) -> subprocess.CompletedProcess[str]:
    """Run ``twistd`` to completion (for commands expected to exit on their own).

    A process that outlives ``timeout`` is killed and reported as an AssertionError carrying
    its output, so a daemon that hangs instead of exiting fails the test instead of hanging it.
    """
    process = subprocess.Popen(
        [str(TWISTD), *args],
        cwd=cwd,
        env=daemon_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=STOP_TIMEOUT)
        raise AssertionError(
            f"twistd {' '.join(args)} still running after {timeout}s; killed.\n"
            f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
        ) from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Daemon:
    """One ``twistd -n chatd`` process with its own working directory and log file."""

    def __init__(
        self, data: Path, extra: Sequence[str] = (), *, tls: bool = False, exempt: bool = True
    ) -> None:
        self.data = data
        self.extra = list(extra)
        self.tls = tls
        # Every test client comes from 127.0.0.1, so per-address limits and the message rate
        # would trip over the suite itself: loopback is exempt (as for a test rig) except in
        # the tests of those limits, which pass exempt=False.
        self.exempt = exempt
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._cwd = tempfile.TemporaryDirectory(prefix="chatd-it-cwd-")
        self.log_path = Path(self._cwd.name) / "daemon.log"

    @property
    def cwd(self) -> Path:
        return Path(self._cwd.name)

    def args(self) -> list[str]:
        line = [] if any(a == "--line" for a in self.extra) else [
            "--line", "tcp:0:interface=127.0.0.1"
        ]
        exempt = ["--exempt", "127.0.0.0/8"] if self.exempt else []
        return ["-n", "chatd", *line, "--data", str(self.data), *CHEAP_HASH, *NO_SEATS,
                *exempt, *self.extra]

    def start(self) -> Daemon:
        assert self.process is None or self.process.poll() is not None, "already running"
        # A SIGKILLed twistd leaves its pidfile; were its pid reused, twistd would refuse.
        (self.cwd / "twistd.pid").unlink(missing_ok=True)
        # Each start appends to the same log; remember where this run begins.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(TWISTD), *self.args()],
                cwd=self.cwd,
                env=daemon_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = _PORT_LINE.search(self.run_log().encode())
            # The port is bound before the data directory is loaded; wait for both.
            if found and "accounts" in self.run_log():
                self.port = int(found.group(1))
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(
            f"chatd did not start (exit {self.process.returncode}); log:\n{self.run_log()}"
        )

    def run_log(self) -> str:
        """The log of the current (or last) run."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(getattr(self, "_log_start", 0))
            return log.read().decode("utf-8", "replace")

    def problems(self) -> list[str]:
        """Log lines that show an unexpected failure inside the daemon."""
        return [line for line in self.run_log().splitlines()
                if "Traceback" in line or "Unhandled" in line or "internal server error" in line]

    def stop(self) -> int:
        """SIGTERM, then wait (bounded); SIGKILL and fail if it does not exit."""
        process = self.process
        if process is None or process.poll() is not None:
            return process.returncode if process else 0
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"chatd ignored SIGTERM for {STOP_TIMEOUT}s; killed. log:\n{self.run_log()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the daemon is concerned."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def cleanup(self) -> None:
        self.kill()
        self._cwd.cleanup()

    def connect(self, **kwargs: object) -> LineClient:
        return LineClient.connect(self.port, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Line:
    """One server line: ``CODE TEXT`` (final) or ``CODE-TEXT`` (continuation)."""

    code: int
    final: bool
    text: str

    @property
    def is_event(self) -> bool:
        return 100 <= self.code < 200

    def __str__(self) -> str:
        return f"{self.code:03d}{' ' if self.final else '-'}{self.text}"


def parse(raw: str) -> Line:
    match = re.fullmatch(r"(\d{3})([ -]?)(.*)", raw, re.DOTALL)
    if match is None:
        raise AssertionError(f"not a CODE TEXT line: {raw!r}")
    return Line(int(match.group(1)), match.group(2) != "-", match.group(3))


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's final reply: its code, its last line's text, and any continuation lines."""

    code: int
    text: str
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join([*self.lines, f"{self.code} {self.text}"])


class ConnectionClosed(AssertionError):
    pass


class LineClient:
    """A blocking line-protocol client: what a person with telnet does, with timeouts."""

    def __init__(self, sock: socket.socket, timeout: float = READ_TIMEOUT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.sock.settimeout(timeout)
        self._buffer = b""
        self.events: list[Line] = []
        self.eof = False
        self.greeting: Line | None = None
        # The name this client logged in with, for matching its join/leave notices.
        self.name = ""

    @classmethod
    def connect(
        cls,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str = "localhost",
        greet: bool = True,
    ) -> LineClient:
        sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server_hostname)
        client = cls(sock)
        if greet:
            line = client.read_line()
            if line.code != 220:
                raise AssertionError(f"expected a 220 greeting, got {line}")
            client.greeting = line
        return client

    # -- raw lines ------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, text: str) -> None:
        self.send_raw(text.encode("utf-8") + b"\r\n")

    def _read_raw(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete line from the server; have {self._buffer!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(
                    f"no complete line from the server; have {self._buffer!r}"
                ) from None
            except (ConnectionResetError, ssl.SSLError) as error:
                self.eof = True
                raise ConnectionClosed(f"connection reset: {error}") from None
            if not chunk:
                self.eof = True
                raise ConnectionClosed(f"server closed the connection; have {self._buffer!r}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        if not raw.endswith(b"\r"):
            raise AssertionError(f"server line not ended by CRLF: {raw!r}")
        return raw[:-1]

    def read_line(self, timeout: float | None = None) -> Line:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return parse(self._read_raw(deadline).decode("utf-8"))

    # -- commands and events --------------------------------------------------------------

    def read_reply(self, timeout: float | None = None) -> Reply:
        """Read until a final non-event line; events met on the way go to ``events``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        continuation: list[str] = []
        while True:
            line = parse(self._read_raw(deadline).decode("utf-8"))
            if line.is_event:
                self.events.append(line)
                continue
            if not line.final:
                continuation.append(line.text)
                continue
            return Reply(line.code, line.text, tuple(continuation))

    def command(self, text: str, timeout: float | None = None) -> Reply:
        self.send(text)
        return self.read_reply(timeout)

    def ok(self, text: str, code: int = 200) -> Reply:
        """Send a command that must succeed with ``code``."""
        answer = self.command(text)
        if answer.code != code:
            raise AssertionError(f"{text!r}: expected {code}, got {answer}")
        return answer

    def wait_event(
        self,
        want: str | Callable[[Line], bool],
        timeout: float | None = None,
    ) -> Line:
        """The first event (already seen or arriving) matching ``want``; it is consumed.

        ``want`` is an exact ``CODE TEXT`` string or a predicate.
        """
        match = want if callable(want) else (lambda line: str(line) == want)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for index, line in enumerate(self.events):
                if match(line):
                    del self.events[index]
                    return line
            try:
                line = parse(self._read_raw(deadline).decode("utf-8"))
            except (TimeoutError, ConnectionClosed) as error:
                raise AssertionError(
                    f"no event {want!r}: {error}; events seen: {[str(e) for e in self.events]}"
                ) from None
            if not line.is_event:
                raise AssertionError(f"waiting for event {want!r}, got reply {line}")
            self.events.append(line)

    def sync(self) -> None:
        """A round trip, so every event sent before it has been read into ``events``."""
        answer = self.command("/help")
        if answer.code != 214:
            raise AssertionError(f"/help as a round trip got {answer}")

    def seen(self, text: str) -> bool:
        return any(str(line) == text for line in self.events)

    def login(self, verb: str, name: str, password: str | None = None) -> Reply:
        answer = self.ok(f"/{verb} {name}" + (f" {password}" if password else ""), 201)
        self.name = name
        return answer

    def wait_closed(self, timeout: float | None = None) -> list[Line]:
        """Read until the server closes; the lines read on the way."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        lines: list[Line] = []
        while True:
            try:
                lines.append(parse(self._read_raw(deadline).decode("utf-8")))
            except ConnectionClosed:
                return lines
            except TimeoutError as error:
                raise AssertionError(
                    f"server did not close the connection: {error}; read {lines}"
                ) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def joined(room: str, nick: str) -> Callable[[Line], bool]:
    """``nick``'s join notice in ``room`` (103), whatever member count it carries."""
    start = f"103 [{room}] {nick} joined ("
    return lambda line: str(line).startswith(start)


def guest(daemon: Daemon, name: str) -> LineClient:
    client = daemon.connect()
    client.login("nick", name)
    return client


def account(daemon: Daemon, verb: str, name: str, password: str) -> LineClient:
    client = daemon.connect()
    client.login(verb, name, password)
    return client


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for localhost and 127.0.0.1.

    Returns (CA certificate, server key, server certificate), all PEM.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatd test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    key_path = directory / "server.key"
    cert_path = directory / "server.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_path, key_path, cert_path
