"""``files``: one file of --size MiB sent with /send and fetched with /get over loopback:
MiB/s each way (upload: 350 to 250, so the fsync counts), next to ``cat FILE | nc`` into
``nc -l`` as the physical reference. Plain blocking sockets in a thread: one stream each way
needs no event loop."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..daemon import Daemon
from ..loopback import free_port
from ..scenario import Scenario, one_server, start_daemon
from ..target import Target


def arguments(p: argparse.ArgumentParser) -> None:
    """The file's size."""
    p.add_argument("--size", type=int, default=256, help="the file's size, MiB")


def spawn(args: argparse.Namespace, extra: list[str]) -> Daemon:
    """A chatd whose file limits hold four files of ``--size``."""
    limit = str(args.size * 1024 * 1024 * 4)
    return start_daemon(args, [*extra, "--max-file-size", limit, "--file-quota-per-user", limit,
                               "--file-quota-per-room", limit, "--file-store-size", limit])


def _read_line(sock: socket.socket, buffer: bytearray, deadline: float) -> bytes:
    """One server line (CRLF stripped); ``buffer`` keeps what came after it."""
    while b"\n" not in buffer:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"closed; have {bytes(buffer[:200])!r}")
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.rstrip(b"\r")


def _reply(sock: socket.socket, buffer: bytearray, deadline: float) -> bytes:
    """The next line that is not an event (1xx)."""
    while True:
        line = _read_line(sock, buffer, deadline)
        if line[:1] != b"1":
            return line


def _files_blocking(args: argparse.Namespace, port: int) -> dict:
    size = args.size * 1024 * 1024
    deadline = time.monotonic() + 240
    with tempfile.TemporaryDirectory(prefix="chatbench-files-") as scratch:
        path = Path(scratch) / "payload.bin"
        with path.open("wb") as out:
            for _ in range(args.size):
                out.write(os.urandom(1024 * 1024))
        result: dict = {"scenario": "files", "size_mib": args.size}
        nc = shutil.which("nc")
        if nc is not None:
            listen_port = free_port()
            listener = subprocess.Popen([nc, "-l", "127.0.0.1", str(listen_port)],
                                        stdout=subprocess.DEVNULL)
            time.sleep(0.3)
            start = time.monotonic()
            subprocess.run(f"cat {path} | {nc} -N 127.0.0.1 {listen_port}", shell=True,
                           check=True, timeout=120)
            listener.wait(120)
            result["nc_mib_s"] = round(args.size / (time.monotonic() - start), 1)

        def guest(nick: str) -> tuple[socket.socket, bytearray]:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            buffer = bytearray()
            _read_line(sock, buffer, deadline)  # greeting
            for line in (f"/nick {nick}", "/join benchfiles"):
                sock.sendall(line.encode() + b"\r\n")
                _reply(sock, buffer, deadline)
            return sock, buffer

        up, up_buffer = guest("uploader")
        up.sendall(f"/send benchfiles payload.bin {size}\r\n".encode())
        assert _reply(up, up_buffer, deadline).startswith(b"350 ")
        start = time.monotonic()
        with path.open("rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                up.sendall(block)
        stored = _reply(up, up_buffer, deadline)
        result["upload_mib_s"] = round(args.size / (time.monotonic() - start), 1)
        assert stored.startswith(b"250 "), stored
        file_id = stored.split()[1].decode()

        down, down_buffer = guest("downloader")
        down.sendall(f"/get {file_id}\r\n".encode())
        head = _reply(down, down_buffer, deadline)
        assert head.startswith(b"351 "), head
        start = time.monotonic()
        got = len(down_buffer)
        down_buffer.clear()
        chunk = bytearray(1 << 20)
        while got < size:
            got += down.recv_into(chunk)
        result["download_mib_s"] = round(args.size / (time.monotonic() - start), 1)
        for sock in (up, down):
            sock.close()
        return result


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """Upload then download, in a thread."""
    return await asyncio.to_thread(_files_blocking, args, target.port("line"))


SCENARIO = Scenario("files", "upload and download MiB/s", arguments,
                    one_server(measure, spawn=spawn))
