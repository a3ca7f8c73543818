"""Accounts for the login scenarios: made once into a cache (each signup costs an argon2id
hash) and copied into every run's data directory, so account creation is never measured."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .conn import bounded_gather, connect
from .daemon import Daemon
from .target import Target
from .wires import WIRES, Wire

CACHE = Path(tempfile.gettempdir()) / "chatbench-cache"
PASSWORD = "bench-password-{}"


def account(i: int) -> tuple[str, str]:
    """The name and password of account ``i``."""
    return f"storm{i}", PASSWORD.format(i)


async def create_accounts(target: Target, count: int) -> None:
    """Sign ``count`` accounts up over the line protocol, four at a time (each is a hash)."""
    wire = WIRES["line"]
    port = target.port("line")

    async def one(i: int) -> None:
        conn = await connect(wire, port)
        try:
            await conn.request(wire.signup(*account(i)), timeout=120)
        except RuntimeError as error:
            if "409" not in str(error):  # already there
                raise
        conn.close()

    await bounded_gather(count, one, 4)


def accounts_data(args: argparse.Namespace, count: int) -> Path:
    """A data directory holding ``count`` accounts, created once (signup costs a hash each) and
    copied for every run, so account creation is never inside a measured phase."""
    kind = args.members_service
    cached = CACHE / f"{kind}-{count}"
    for done in CACHE.glob(f"{kind}-*/done"):  # a cache with more accounts will do
        if int(done.parent.name.split("-")[1]) >= count:
            return done.parent
    if not (cached / "done").exists():
        shutil.rmtree(cached, ignore_errors=True)
        cached.mkdir(parents=True)
        print(f"# creating {count} accounts in {cached} (once)", file=sys.stderr)
        # A remote signup fails with 502 when chatd-members takes longer than --members-timeout
        # (5 s) to hash it, as it may with four queued on a busy machine; nothing is timed here.
        daemon = Daemon(args, ["--members-timeout", "60"], data=cached / "chatd")
        try:
            members = daemon.start_members(cached / "members") if kind == "remote" else ""
            daemon.start(members)
            asyncio.run(create_accounts(Target(args, daemon), count))
        finally:
            daemon.stop()
        (cached / "done").touch()
    return cached


def arguments(p: argparse.ArgumentParser) -> None:
    """The options of the login scenarios (loginstorm, auths)."""
    p.add_argument("--members-service", dest="members_service", choices=("embedded", "remote"),
                   default="embedded", help="accounts in chatd, or in twistd chatd-members")
    p.add_argument("--logins", type=int, default=200)


def spawn_with_accounts(args: argparse.Namespace, extra: list[str]) -> Daemon:
    """A started chatd (and chatd-members, ``--members-service remote``) holding ``--logins``
    accounts, where every login is queued for a hash rather than refused with 503, and waits
    for it rather than being closed by the 30 s login timeout."""
    if not any(a.startswith("--hash-queue") for a in extra):
        extra += ["--hash-queue", str(max(64, args.logins + 16))]
    if not any(a.startswith("--login-timeout") for a in extra):
        extra += ["--login-timeout", "0"]
    cached = accounts_data(args, args.logins)
    daemon = Daemon(args, extra)
    shutil.copytree(cached / "chatd", daemon.data, ignore=shutil.ignore_patterns("lock", "*.lock"))
    members = ""
    if args.members_service == "remote":
        data = daemon.dir / "members"
        shutil.copytree(cached / "members", data,
                        ignore=shutil.ignore_patterns("lock", "*.lock", "members.sock"))
        members = daemon.start_members(data, ["--hash-queue", str(max(64, args.logins + 16))])
    daemon.start(members)
    return daemon


def refusal(error: Exception) -> str:
    """How a failed login is counted: the reply's code (``503``), or the exception's name."""
    return str(error)[:3] if str(error)[:3].isdigit() else type(error).__name__


async def login_all(wire: Wire, port: int, indices: range, concurrency: int) -> dict:
    """Log each account in on a fresh connection (then close it); latencies and outcomes."""
    times: list[float] = []
    refused: dict[str, int] = {}

    async def one(i: int) -> None:
        conn = await connect(wire, port)
        start = time.monotonic()
        try:
            await conn.request(wire.login(*account(i)), timeout=120)
            times.append(time.monotonic() - start)
        except (RuntimeError, TimeoutError) as error:
            key = refusal(error)
            refused[key] = refused.get(key, 0) + 1
        conn.close()

    t0 = time.monotonic()
    await bounded_gather(len(indices), lambda k: one(indices[k]), concurrency)
    return {"wall": time.monotonic() - t0, "times": times, "refused": refused}
