"""The settings more than one part of chatd reads, each declared once, grouped by who reads it.

The components' limits records declare their fields with ``shared`` (``Limits``,
``AdmissionLimits``, ``LoginThrottle``, ``HashParameters``, ``FileLimits``, ``Retention``):
the field's default is its key's, and ``chatd.kernel.settings.from_settings`` reads it from the
settings, so a setting is written in one place (its key) plus where it is used. Each daemon
assembles its table from these groups and its own keys (``chatd.config``,
``chatd.members.tap``); each frontend declares its listener key beside its code.
"""

from __future__ import annotations

import re
from typing import Any

from chatd.kernel.credentials import MAX_PASSWORD
from chatd.kernel.names import DEFAULT_RESERVED
from chatd.kernel.settings import (
    Key,
    age,
    boolean,
    deadline,
    defaults,
    names,
    path,
    rate,
    rooms,
    seconds,
    setting,
    text,
    whole,
    window,
)

# Sessions and rooms: the core's limits (chatd.core.service.Limits) and the Portal's.
SESSIONS: dict[str, Key] = {
    "max-users": Key(whole(1, 1_000_000), "most sessions logged in at once", 10_000),
    # Restart-only: the guest checker is built with it once.
    "require-account": Key(boolean, "refuse guests: only accounts may chat (a reload applies "
                           "it to new logins; guests already in stay)", False, flag=True),
    "signup-on-login": Key(boolean, "a /login of a name with no account makes the account "
                           "(within the signup limits), as seed 003 did", False, flag=True),
    "max-sessions-per-account": Key(whole(1, 1000), "sessions one account may have at once "
                                    "(1: refuse a second login)", 5),
    "default-room-limit": Key(whole(1, 1_000_000),
                              "member limit of temporary rooms and of /create without one", 100),
    "max-room-limit": Key(whole(1, 1_000_000), "highest member limit an owner may set", 10_000),
    "max-rooms-per-user": Key(whole(1, 100_000), "rooms one user may be in at once", 50),
    "token-lifetime": Key(whole(1, 7 * 86400), "seconds a room token for the UDP channel "
                          "(/token) lives", 3600),
    "seat-grace": Key(whole(0, 30 * 86400), "seconds an account's (or a guest's, with its "
                      "resume token) place in its rooms is kept after its connection drops "
                      "without /quit (0: a drop is a departure)", 900),
    "always-on": Key(boolean, "every account's seat is kept until /quit (no grace), and "
                     "private messages to it wait for its return (history must be on)", False,
                     flag=True),
    "reserved-names": Key(names, "names (and their look-alikes) no guest or new account may "
                          "take, comma-separated; replaces the default list (chatd, admin, "
                          "root, nickserv, ...)", DEFAULT_RESERVED, reloadable=False),
    # The embedded accounts' (chatd.members.local.LocalDirectory), applied again on reload.
    "min-password-length": Key(whole(1, MAX_PASSWORD), "the fewest characters an account "
                               "password may have", 8),
}

# Rates: messages and room passwords (the core), signups (the Portal).
RATES: dict[str, Key] = {
    "messages-burst": Key(whole(1, 1_000_000), "messages a session may send at once", 10),
    "messages-per-second": Key(rate, "messages a session may send per second after a burst",
                               2.0),
    "paste-queue": Key(whole(0, 10_000), "line and IRC fakelag: messages over the message "
                       "rate held back and sent at the rate (reading paused) before 429 "
                       "(0: none)",
                       20),
    "flood-strikes": Key(whole(1, 1_000_000),
                         "refused messages in a row before a session is disconnected", 20),
    "room-password-failures": Key(whole(1, 1000), "wrong room passwords per user and room "
                                  "before one a minute", 3),
    "signups-per-address": Key(whole(1, 1_000_000),
                               "new accounts per address in any 10 minutes", 3,
                               reloadable=False),
    "signups-total": Key(whole(1, 1_000_000), "new accounts in any 10 minutes, overall", 30,
                         reloadable=False),
}

# Failed logins (chatd.members.local.LoginThrottle): chatd's embedded accounts and the
# member service each have their own.
LOGIN_FAILURES: dict[str, Key] = {
    "login-failures-per-account": Key(whole(1, 1000),
                                      "failed logins per account before one a minute", 5),
    "login-failures-per-address": Key(whole(1, 100_000),
                                      "failed logins per address before one per 30 seconds", 10),
}

# Connections: admission (chatd.frontends.admission) and every frontend's Options.
CONNECTIONS: dict[str, Key] = {
    "max-connections": Key(whole(1, 1_000_000), "connections at once, all addresses", 20_000),
    "max-connections-per-address": Key(whole(1, 100_000), "connections at once per address",
                                       16),
    "new-connections-per-address": Key(whole(1, 1_000_000),
                                       "new connections per address in any 10 minutes", 32),
    "max-unnamed-per-address": Key(whole(1, 100_000),
                                   "connections per address not yet logged in", 3),
    "login-timeout": Key(seconds, "close a connection not logged in after this many seconds "
                         "(0: never)", 30.0),
    "max-bytes-before-login": Key(whole(256, 1_048_576),
                                  "bytes a connection may send before logging in", 4096),
    "max-line": Key(whole(64, 65536), "longest input line in bytes; longer lines get 413", 2048),
    "max-output": Key(whole(4096, 64 * 1024 * 1024),
                      "bytes queued for a client that stopped reading before it is dropped",
                      256 * 1024),
    "idle-timeout": Key(seconds, "close a connection silent for this many seconds (0: never)",
                        0.0),
    "direct-send": Key(boolean, "send output straight to the socket when nothing waits in "
                       "Twisted's buffer (a third of a delivery's cost); false: always through "
                       "the buffer", True),
}

# Password hashing (chatd.members.passwords): chatd and the member service alike.
HASHING: dict[str, Key] = {
    "hash-time-cost": Key(whole(1, 100), "argon2id passes per password hash", 3,
                          reloadable=False),
    "hash-memory-kib": Key(whole(8, 4_194_304), "argon2id memory per hash, KiB", 65536,
                           reloadable=False),
    "hash-parallelism": Key(whole(1, 64), "argon2id lanes per hash", 4, reloadable=False),
    "hash-threads": Key(whole(1, 64), "threads hashing passwords", 2, reloadable=False),
    "hash-queue": Key(whole(1, 100_000), "hashes waiting or running before logins get 'busy' (503)",
                      64, reloadable=False),
}

# chatd's client of the member service (chatd.members.client).
MEMBER_SERVICE: dict[str, Key] = {
    "members": Key(text, "member service client endpoint (e.g. unix:/var/lib/chatd-members/"
                   "members.sock); empty: accounts embedded in the data directory", "",
                   reloadable=False),
    "members-secret": Key(path, "file with the member service's shared secret (mode 0600)",
                          None, reloadable=False, shown="members.secret beside a unix: socket"),
    "members-timeout": Key(deadline, "seconds the member service may go without answering "
                           "before logins, signups, guest nicks and room changes get 502",
                           5.0),
}

# Room history and transcripts (chatd.history); replay is read by every frontend.
HISTORY: dict[str, Key] = {
    "history-max-count": Key(whole(0, 1_000_000), "messages kept per room (and per account's "
                             "private conversation) for replay and /history (0: no history)",
                             1000, reloadable=False),
    "history-max-age": Key(age, "seconds a message is kept in history (0: no age limit)",
                           30 * 86400.0, reloadable=False),
    "history-batch": Key(window, "seconds between history writes; a crash loses at most this "
                         "window of history", 0.2, reloadable=False),
    "history-private": Key(boolean, "keep private messages between accounts in history "
                           "(readable only by the two parties)", False, flag=True,
                           reloadable=False),
    "history-replay": Key(whole(0, 1000), "messages replayed to a member who joins a room "
                          "(0: none)", 20),
    "history-replay-plain": Key(boolean, "replay history on join to IRC clients without "
                                "server-time (as plain PRIVMSGs with the time in the text)",
                                True),
    "transcripts": Key(rooms, "rooms with plain-text transcripts, comma-separated, or * for "
                       "every room", (), reloadable=False),
    "transcripts-dir": Key(path, "directory of the transcripts", None, reloadable=False,
                           shown="DATA/transcripts"),
}

# Several nodes sharing rooms through Redis (chatd.cluster); the URL is checked by
# chatd.config, which may import chatd.cluster.url.
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def node_name(value: Any) -> str:
    """A node's name: letters, digits, ``.``, ``_`` and ``-``, up to 63 (empty: the host's)."""
    if not isinstance(value, str):
        raise ValueError("expected a name")
    if value and NODE_NAME.fullmatch(value) is None:
        raise ValueError("a node name has 1 to 63 letters, digits, '.', '_' or '-', starting "
                         f"with a letter or digit; got {value!r}")
    return value


CLUSTER: dict[str, Key] = {
    "cluster": Key(text, "share rooms with other chatd nodes through Redis at this URL: "
                   "redis://[:PASSWORD@]HOST[:PORT][/DB], rediss:// for TLS (empty: this "
                   "node alone)", "", reloadable=False),
    "cluster-password-file": Key(path, "file holding the Redis password (mode 0600), for a "
                                 "cluster URL without one: kept out of ps", None,
                                 reloadable=False),
    "node-name": Key(node_name, "this node's name in the cluster, unique among live nodes",
                     "", reloadable=False, shown="the host name"),
    "cluster-no-password": Key(boolean, "share rooms through a Redis that asks no password "
                               "(every node believes what it finds in Redis: only on a "
                               "network nobody else reaches)", False, flag=True,
                               reloadable=False),
    "cluster-heartbeat": Key(deadline, "seconds without a heartbeat "
                             "after which the other nodes take a node for dead and its "
                             "members leave their rooms", 10.0, reloadable=False),
}

MIB = 1024 * 1024

# Shared files (chatd.files.store.FileStore): sizes in bytes.
FILES: dict[str, Key] = {
    "max-file-size": Key(whole(0, 1 << 40), "largest file one upload may share, bytes "
                         "(0: file sharing off)", 64 * MIB),
    "file-quota-per-user": Key(whole(0, 1 << 40), "bytes of stored files one user may have "
                               "shared", 256 * MIB),
    "file-quota-per-room": Key(whole(0, 1 << 40), "bytes of stored files one room may hold",
                               1024 * MIB),
    "file-store-size": Key(whole(0, 1 << 44), "bytes of stored files in all, the whole "
                           "store", 4096 * MIB),
    "file-retention-days": Key(whole(0, 36500), "days a shared file is kept (0: until the "
                               "store is cleared by hand)", 7),
    "file-link-lifetime": Key(whole(10, 86400), "seconds a signed download link (HTTP) "
                              "stays valid", 300),
    "upload-min-rate": Key(whole(0, 1 << 30), "bytes per second an upload must average: "
                           "one not in after upload-grace + SIZE / this seconds is cut (408) "
                           "and its space given back (0: no deadline)", 16 * 1024),
    "upload-grace": Key(seconds, "seconds an upload has on top of SIZE / upload-min-rate, "
                        "for its start", 30.0),
}

def oper_blocks(value: Any) -> tuple[tuple[str, str], ...]:
    """Server operators with a password of their own: TOML ``[[oper]]`` tables of ``name``
    and ``hash`` (an argon2id hash, ``chatd-admin oper-hash`` makes one), or ``NAME:HASH``
    on the command line (``--oper``, repeatable). Never a plain password."""
    items = value if isinstance(value, list | tuple) else [value]
    blocks: dict[str, str] = {}
    for item in items:
        if isinstance(item, str):
            name, _, hashed = item.partition(":")
        elif isinstance(item, dict) and set(item) == {"name", "hash"}:
            name, hashed = item["name"], item["hash"]
        else:
            raise ValueError("expected [[oper]] tables of name and hash (NAME:HASH on the "
                             "command line)")
        if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
            raise ValueError(f"{name!r} is no operator name (printable, no spaces)")
        if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
            raise ValueError(f"oper {name}: the hash must be an argon2 hash (chatd-admin "
                             "oper-hash makes one), never a plain password")
        if name in blocks:
            raise ValueError(f"oper {name} is declared twice")
        blocks[name] = hashed
    return tuple(blocks.items())


# Server operators (chatd.core.operators): both reloadable; an operator dropped from them
# stops being one at the reload.
OPERATORS: dict[str, Key] = {
    "operators": Key(names, "accounts that may become server operators (OPER or /oper with "
                     "the account's name and own password, logged in to it), comma-separated",
                     ()),
    "oper": Key(oper_blocks, "a server operator with a password of its own: NAME:HASH "
                "(TOML: [[oper]] name and hash; chatd-admin oper-hash makes the hash; "
                "repeatable)", (), repeatable=True),
}

SHARED: dict[str, Key] = {**SESSIONS, **RATES, **LOGIN_FAILURES, **CONNECTIONS, **HASHING,
                          **MEMBER_SERVICE, **HISTORY, **FILES, **CLUSTER}
DEFAULTS: dict[str, Any] = defaults(SHARED)


def shared(name: str) -> Any:
    """A dataclass field read from the shared key ``name`` (``chatd.kernel.settings.setting``)."""
    return setting(SHARED, name)
