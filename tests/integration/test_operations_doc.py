"""docs/operations.md's "Trying two nodes on one machine", run as written.

The section marks its blocks with ``<!-- try-two-nodes: shell -->`` (the commands, run by
``sh`` in a new folder) and ``<!-- try-two-nodes: terminal N -->`` (what a reader types
into ``nc`` and reads back: ``$ nc HOST PORT`` connects, ``> TEXT`` is typed, any other
line must arrive, in order, exactly or up to a closing ``...``). Only the doc's fixed ports
are swapped for free ones, so a doc that stops working fails here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.cluster import REDIS, free_port
from tests.integration.harness import READ_TIMEOUT, REPO, daemon_env

DOC = REPO / "docs" / "operations.md"
BLOCK = re.compile(r"<!-- try-two-nodes: (?P<tag>[^>]+?) -->\n```[^\n]*\n(?P<body>.*?)```",
                   re.DOTALL)
# The ports the doc picks; each is replaced by a free one.
DOC_PORTS = ("16379", "17001", "17002")
# Starting Redis, the member service and two nodes on shared, busy cores.
START_TIMEOUT = 90.0


def doc_blocks() -> list[tuple[str, str]]:
    """The marked blocks of the section, in order, as (tag, text)."""
    return [(found["tag"], found["body"]) for found in BLOCK.finditer(DOC.read_text())]


class Terminal:
    """A blocking ``nc``: lines typed, lines read."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=READ_TIMEOUT)
        self.reader = self.sock.makefile("rb")
        self.seen: list[str] = []

    def type(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n")

    def expect(self, want: str) -> None:
        """Read until a line that is ``want`` (or starts with it, for ``...``)."""
        prefix = want.removesuffix("...") if want.endswith("...") else None
        while True:
            try:
                line = self.reader.readline().decode().rstrip("\r\n")
            except TimeoutError:
                break
            if not line:
                break
            self.seen.append(line)
            if line == want or (prefix is not None and line.startswith(prefix)):
                return
        raise AssertionError(f"no {want!r}; read: {self.seen}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()


class TwoNodesOnOneMachineTests(TestCase):
    def setUp(self) -> None:
        if REDIS is None:
            if os.environ.get("CI"):
                self.fail("redis-server is not installed; .ci/run installs it")
            raise SkipTest("redis-server is not installed (apt-get install redis-server)")
        # Short: the member service's unix socket path must fit in 108 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="chatd-doc-"))
        self.addCleanup(shutil.rmtree, self.folder, True)

    def test_the_two_node_walkthrough_works_as_written(self) -> None:
        blocks = doc_blocks()
        self.assertEqual([tag for tag, _ in blocks][:1], ["shell"], "the section's first block")
        ports = {fixed: str(free_port()) for fixed in DOC_PORTS}
        for fixed in DOC_PORTS:
            self.assertIn(fixed, blocks[0][1], "the doc's ports changed; update DOC_PORTS")

        def local(text: str) -> str:
            return re.sub(r"\b(" + "|".join(DOC_PORTS) + r")\b", lambda m: ports[m[1]], text)

        self.start(local(blocks[0][1]))
        tried = self.folder / "chatd-try"
        for node in ("one", "two"):
            self.wait_log(tried / f"node-{node}.log", f"node {node} in step with the others")

        terminals: dict[str, Terminal] = {}
        for tag, body in blocks[1:]:
            for line in local(body).splitlines():
                if line.startswith("$ nc "):
                    host, port = line.split()[2:4]
                    terminals[tag] = Terminal(host, int(port))
                    self.addCleanup(terminals[tag].close)
                elif line.startswith("> "):
                    terminals[tag].type(line[2:])
                elif line:
                    terminals[tag].expect(line)
        # What ann said on node one reaches bob on node two, as the text after it says.
        terminals["terminal 2"].expect("101 [lobby] <ann> hi bob")

        password = (tried / "redis.password").read_text().strip()
        shown = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(password, shown)
        for log in tried.glob("*.log"):
            self.assertNotIn("Traceback", log.read_text(), log.name)

    def start(self, script: str) -> None:
        """Run the shell block; its background daemons are stopped at cleanup."""
        env = daemon_env()
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        output = self.folder / "shell.out"
        with output.open("wb") as out:
            shell = subprocess.Popen(["sh", "-e", "-c", script], cwd=self.folder, env=env,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.addCleanup(self.stop_group, shell.pid)
        try:
            status = shell.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the commands did not return: {output.read_text()}") from None
        self.assertEqual(status, 0, output.read_text())

    def stop_group(self, group: int) -> None:
        """SIGTERM to every process the shell block started, then SIGKILL to what is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.killpg(group, 0)
                time.sleep(0.1)
            os.killpg(group, signal.SIGKILL)

    def wait_log(self, log: Path, text: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text():
                return
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in {log}:\n"
                             f"{log.read_text() if log.exists() else '(no log)'}")
