"""Settings: defaults, then the TOML file given by --config, then the command line.

One table (``KEYS``) names every setting once: its TOML key is its name, its command-line
option is ``--`` plus that name, and its parser both converts and validates. The result is one
frozen ``Settings``; a bad value raises ``ConfigError`` naming the option or key, which the
twistd plugin turns into a one-line error.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chatd.frontends.line_codec import DEFAULT_PORT
from chatd.kernel.errors import BadName
from chatd.kernel.names import DEFAULT_RESERVED, check_user_name

DEFAULT_LINE = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"


class ConfigError(ValueError):
    """A setting is missing, unknown, or out of range; the message names it."""


@dataclass(frozen=True)
class Settings:
    line: tuple[str, ...] = (DEFAULT_LINE,)
    irc: tuple[str, ...] = ()
    members: str = ""
    members_secret: Path | None = None
    members_timeout: float = 5.0
    max_output: int = 256 * 1024
    data: Path = Path("chatd-data")
    max_users: int = 10_000
    max_line: int = 2048
    idle_timeout: float = 0.0
    require_account: bool = False
    max_sessions_per_account: int = 5
    default_room_limit: int = 100
    max_room_limit: int = 10_000
    hash_time_cost: int = 3
    hash_memory_kib: int = 65536
    hash_parallelism: int = 4
    hash_threads: int = 2
    hash_queue: int = 64
    exempt: tuple[str, ...] = ()
    metrics: str = ""
    max_connections: int = 20_000
    max_connections_per_address: int = 16
    new_connections_per_address: int = 32
    max_unnamed_per_address: int = 3
    login_timeout: float = 30.0
    max_bytes_before_login: int = 4096
    messages_burst: int = 10
    messages_per_second: float = 2.0
    flood_strikes: int = 20
    max_rooms_per_user: int = 50
    signups_per_address: int = 3
    signups_total: int = 30
    login_failures_per_account: int = 5
    login_failures_per_address: int = 10
    room_password_failures: int = 3
    reserved_names: tuple[str, ...] = DEFAULT_RESERVED
    server_name: str = field(default_factory=lambda: default_server_name())
    min_password_length: int = 8


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        # A float (TOML 5.5, or 5.0) is refused rather than truncated: 5.5 users is a typo.
        if isinstance(value, bool | float):
            raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"expected a whole number from {low} to {high}, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {number}")
        return number

    return parse


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not 0 <= number <= 7 * 86400:
        raise ValueError(f"expected seconds from 0 (off) to 604800, got {value!r}")
    return number


def _deadline(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not 0.1 <= number <= 60:
        raise ValueError(f"expected seconds from 0.1 to 60, got {value!r}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _endpoints(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected an endpoint string or a list of them")
    return tuple(items)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _networks(value: Any) -> tuple[str, ...]:
    items = _endpoints(value)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return items


def _rate(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number per second, got {value!r}") from None
    if isinstance(value, bool) or not 0.01 <= number <= 1_000_000:
        raise ValueError(f"expected 0.01 to 1000000 per second, got {value!r}")
    return number


def default_server_name() -> str:
    """The host's name if it is one IRC can carry (a dotted DNS-like name), else
    ``chatd.local``."""
    name = socket.gethostname()
    return name if _SERVER_NAME.fullmatch(name) and "." in name else "chatd.local"


_SERVER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?")


def _server_name(value: Any) -> str:
    if not isinstance(value, str) or not _SERVER_NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"expected a host-like name (letters, digits, dots, hyphens), got "
                         f"{value!r}")
    return value


def _names(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected a list of names (comma-separated on the command line)")
    names = tuple(item.strip() for item in items if item.strip())
    for name in names:
        try:
            check_user_name(name)
        except BadName as error:
            raise ValueError(f"{name!r}: {error}") from None
    return names


def _path(value: Any) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError("expected a directory path")
    return Path(value).expanduser().absolute()


@dataclass(frozen=True, slots=True)
class Key:
    parse: Callable[[Any], Any]
    help: str
    flag: bool = False


KEYS: dict[str, Key] = {
    "line": Key(_endpoints, "line-protocol listener, a Twisted endpoint string (repeatable; "
                "ssl:PORT:privateKey=KEY:certKey=CERT for TLS)"),
    "irc": Key(_endpoints, "IRC listener, a Twisted endpoint string (repeatable; off unless "
               "given; ssl:6697:privateKey=KEY:certKey=CERT for TLS)"),
    "data": Key(_path, "data directory (accounts, rooms, lock file)"),
    "members": Key(_text, "member service client endpoint (e.g. unix:/var/lib/chatd-members/"
                   "members.sock); empty: accounts embedded in the data directory"),
    "members-secret": Key(_path, "file with the member service's shared secret (mode 0600) "
                          "[default: members.secret beside the unix socket]"),
    "members-timeout": Key(_deadline, "seconds the member service may go without answering "
                           "before logins, signups and guest nicks get 502"),
    "max-output": Key(_integer(4096, 64 * 1024 * 1024),
                      "bytes queued for a client that stopped reading before it is dropped"),
    "max-users": Key(_integer(1, 1_000_000), "most sessions logged in at once"),
    "max-line": Key(_integer(64, 65536), "longest input line in bytes; longer lines get 413"),
    "idle-timeout": Key(_seconds, "close a connection silent for this many seconds (0: never)"),
    "require-account": Key(_boolean, "refuse guests: only accounts may chat", flag=True),
    "max-sessions-per-account": Key(_integer(1, 1000),
                                    "sessions one account may have at once (1: refuse a "
                                    "second login)"),
    "default-room-limit": Key(_integer(1, 1_000_000),
                              "member limit of temporary rooms and of /create without one"),
    "max-room-limit": Key(_integer(1, 1_000_000), "highest member limit an owner may set"),
    "hash-time-cost": Key(_integer(1, 100), "argon2id passes per password hash"),
    "hash-memory-kib": Key(_integer(8, 4_194_304), "argon2id memory per hash, KiB"),
    "hash-parallelism": Key(_integer(1, 64), "argon2id lanes per hash"),
    "hash-threads": Key(_integer(1, 64), "threads hashing passwords"),
    "metrics": Key(_text, "endpoint serving Prometheus metrics at /metrics, e.g. "
                   "tcp:9101:interface=127.0.0.1 (empty: off)"),
    "exempt": Key(_networks, "trusted address or network (CIDR), exempt from the per-address "
                  "and rate limits (repeatable; e.g. a web gateway, a benchmark on 127.0.0.0/8)"),
    "max-connections": Key(_integer(1, 1_000_000), "connections at once, all addresses"),
    "max-connections-per-address": Key(_integer(1, 100_000), "connections at once per address"),
    "new-connections-per-address": Key(_integer(1, 1_000_000),
                                       "new connections per address in any 10 minutes"),
    "max-unnamed-per-address": Key(_integer(1, 100_000),
                                   "connections per address not yet logged in"),
    "login-timeout": Key(_seconds, "close a connection not logged in after this many seconds "
                         "(0: never)"),
    "max-bytes-before-login": Key(_integer(256, 1_048_576),
                                  "bytes a connection may send before logging in"),
    "messages-burst": Key(_integer(1, 1_000_000), "messages a session may send at once"),
    "messages-per-second": Key(_rate, "messages a session may send per second after a burst"),
    "flood-strikes": Key(_integer(1, 1_000_000),
                         "refused messages in a row before a session is disconnected"),
    "max-rooms-per-user": Key(_integer(1, 100_000), "rooms one user may be in at once"),
    "signups-per-address": Key(_integer(1, 1_000_000),
                               "new accounts per address in any 10 minutes"),
    "signups-total": Key(_integer(1, 1_000_000), "new accounts in any 10 minutes, overall"),
    "login-failures-per-account": Key(_integer(1, 1000),
                                      "failed logins per account before one a minute"),
    "login-failures-per-address": Key(_integer(1, 100_000),
                                      "failed logins per address before one per 30 seconds"),
    "room-password-failures": Key(_integer(1, 1000),
                                  "wrong room passwords per user and room before one a minute"),
    "hash-queue": Key(_integer(1, 100_000),
                      "hashes waiting or running before logins get 503 busy"),
    "reserved-names": Key(_names, "names (and their look-alikes) no guest or new account may "
                          "take, comma-separated; replaces the default list (chatd, admin, "
                          "root, nickserv, ...)"),
    "server-name": Key(_server_name, "the IRC server name: the prefix of server lines, in "
                       "001-004 and PONG (default: the host name, or chatd.local)"),
    "min-password-length": Key(_integer(1, 128), "the fewest characters an account password "
                               "may have"),
}


def _attribute(key: str) -> str:
    return key.replace("-", "_")


def described(key: str) -> str:
    """A key's help text with its default, for ``--help``."""
    value = getattr(Settings(), _attribute(key))
    if isinstance(value, tuple):
        shown = ",".join(value) if value else "none"
    elif value is None or value == "":
        shown = "none"
    elif isinstance(value, bool):
        shown = "on" if value else "off"
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{KEYS[key].help} [default: {shown}]"


def _apply(settings: Settings, values: dict[str, Any], origin: Callable[[str], str]) -> Settings:
    changes: dict[str, Any] = {}
    for key, value in values.items():
        spec = KEYS.get(key)
        if spec is None:
            raise ConfigError(f"{origin(key)}: unknown setting")
        try:
            changes[_attribute(key)] = spec.parse(value)
        except ValueError as error:
            raise ConfigError(f"{origin(key)}: {error}") from None
    return replace(settings, **changes)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as error:
        raise ConfigError(f"--config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def load_settings(command_line: dict[str, Any], config: Path | None) -> Settings:
    """Defaults < the config file < the command line (keys in ``command_line`` were given)."""
    settings = Settings()
    if config is not None:
        settings = _apply(settings, read_config_file(config), lambda key: f"{config}: {key}")
    settings = _apply(settings, command_line, lambda key: f"--{key}")
    if settings.default_room_limit > settings.max_room_limit:
        raise ConfigError("default-room-limit: must not exceed max-room-limit")
    if settings.members and settings.members_secret is None:
        secret = secret_beside(settings.members)
        if secret is None:
            raise ConfigError("members-secret: required with a members endpoint that is not unix:")
        settings = replace(settings, members_secret=secret)
    return settings


def secret_beside(endpoint: str) -> Path | None:
    """For a ``unix:`` member-service endpoint, the secret file the member daemon makes
    beside its socket; None for other endpoints."""
    if not endpoint.startswith("unix:"):
        return None
    return Path(endpoint[5:].split(":")[0].removeprefix("path=")).with_name("members.secret")

