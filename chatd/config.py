"""chatd's settings: one table (``KEYS``) of every key the chat daemon reads, and ``load``.

The table is assembled, not written here: every registered frontend's keys (its listeners
first), chatd's own keys below, and the shared groups of ``chatd.kernel.keys``, each key
declared once with its parser, help, default and whether a reload applies it. ``load`` reads
defaults < the TOML file given by --config < the command line into one frozen ``Settings``
and checks what spans keys; a bad value raises ``ConfigError`` naming the option or key,
which the twistd plugin turns into a one-line error.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chatd.cluster.url import RedisURL, parse_redis_url, read_password, with_password
from chatd.frontends.entry import Frontend
from chatd.frontends.registry import FRONTENDS
from chatd.kernel.keys import (
    CLUSTER,
    CONNECTIONS,
    FILES,
    HASHING,
    HISTORY,
    LOGIN_FAILURES,
    MEMBER_SERVICE,
    OPERATORS,
    RATES,
    SESSIONS,
)
from chatd.kernel.settings import (
    ConfigError,
    Key,
    Settings,
    load_settings,
    networks,
    path,
    text,
)
from chatd.members.secret import secret_beside

# The chat daemon's own keys: where it keeps its data and what it serves besides chat.
DAEMON: dict[str, Key] = {
    "data": Key(path, "data directory (accounts, rooms, shared files, lock file)",
                Path("chatd-data"), reloadable=False),
    "metrics": Key(text, "endpoint serving Prometheus metrics at /metrics, e.g. "
                   "tcp:9101:interface=127.0.0.1 (empty: off)", "", reloadable=False),
    "control": Key(text, "endpoint of the control socket chatd-admin's seats and end-seat "
                   "talk to (keep it unix: with mode=600: it has no password)", "",
                   reloadable=False, shown="unix:DATA/control.sock:mode=600:lockfile=1"),
    "exempt": Key(networks, "trusted address or network (CIDR), exempt from the per-address "
                  "and rate limits (repeatable; e.g. a web gateway, a benchmark on "
                  "127.0.0.0/8)", (), reloadable=False, repeatable=True),
}


def keys_for(frontends: Iterable[Frontend]) -> dict[str, Key]:
    """The table for a daemon running ``frontends``; a key declared twice is refused."""
    table: dict[str, Key] = {}
    groups = [frontend.keys for frontend in frontends]
    groups += [DAEMON, MEMBER_SERVICE, SESSIONS, CONNECTIONS, RATES, LOGIN_FAILURES, HASHING,
               HISTORY, FILES, CLUSTER, OPERATORS]
    for group in groups:
        twice = table.keys() & group.keys()
        if twice:
            raise ValueError(f"settings declared twice: {', '.join(sorted(twice))}")
        table.update(group)
    return table


KEYS = keys_for(FRONTENDS)


def default_node_name() -> str:
    """The host's name as a node name: its first label, without what a name can't hold."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0]).strip("-._")
    return name[:63] or "chatd"


def load(keys: Mapping[str, Key], command_line: Mapping[str, Any], config: Path | None
         ) -> Settings:
    """The settings (see ``load_settings``), checked across keys: room limits that agree, and
    the member service's secret file found beside its socket when not given."""
    settings = load_settings(keys, command_line, config)
    if settings.default_room_limit > settings.max_room_limit:
        raise ConfigError("default-room-limit: must not exceed max-room-limit")
    if settings.cluster:
        try:
            url = parse_redis_url(settings.cluster)
        except ValueError as error:
            raise ConfigError(f"cluster: {error}") from None
        if settings.cluster_password_file is not None:
            settings = settings.replace({"cluster": _password_from_file(
                settings.cluster, url, settings.cluster_password_file)})
            url = parse_redis_url(settings.cluster)
        if url.password is None and not settings.cluster_no_password:
            # Whoever can write to Redis speaks for every node: refused before connecting.
            raise ConfigError(f"cluster: {url.shown} gives no password, and every node trusts "
                              "what it finds in Redis; give one (cluster-password-file, or "
                              "redis://:PASSWORD@HOST in the TOML file; requirepass in Redis), "
                              "or cluster-no-password on a private network")
        if not settings.members:
            # Embedded accounts and rooms would be each node's own: one name, two accounts.
            raise ConfigError("cluster: the nodes must share one member service; give members "
                              "(--members ENDPOINT of a twistd chatd-members)")
        if not settings.node_name:
            settings = settings.replace({"node-name": default_node_name()})
    if settings.members and settings.members_secret is None:
        secret = secret_beside(settings.members)
        if secret is None:
            raise ConfigError("members-secret: required with a members endpoint that is not unix:")
        settings = settings.replace({"members-secret": secret})
    return settings


def _password_from_file(value: str, url: RedisURL, password_file: Path) -> str:
    """The URL ``value`` with the password read from ``password_file``: in the settings
    from then on, as if given in the URL, but never on the command line."""
    if url.password:
        raise ConfigError("cluster-password-file: the cluster URL gives a password already; "
                          "give it in one place")
    try:
        return with_password(value, read_password(password_file))
    except ValueError as error:
        raise ConfigError(f"cluster-password-file: {error}") from None
