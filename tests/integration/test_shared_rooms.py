"""Two real chat daemons on one real member service (``twistd chatd-members``): the room
definitions are the service's, so a persistent room created on node 1 is joinable with its
password on node 2, a topic or ban set on one holds on the other, and all of it survives a
restart of the member service. No Redis: the member service alone keeps them consistent."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from twisted.trial.unittest import TestCase

from tests.integration.harness import Daemon, Reply, account, daemon_env
from tests.test_members_daemon import MembersDaemon

pytestmark = pytest.mark.daemon

WAIT = 15.0
_GUESTS = itertools.count()


class SharedRoomDefinitionsTests(TestCase):
    def setUp(self) -> None:
        self.members = MembersDaemon(Path(self.mktemp()).absolute()).start()
        self.addCleanup(self.members.kill)
        self.nodes = [self.node() for _ in range(2)]

    def node(self) -> Daemon:
        daemon = Daemon(Path(self.mktemp()).absolute(), [
            "--members", f"tcp:127.0.0.1:{self.members.port}",
            "--members-secret", str(self.members.data / "members.secret"),
        ]).start()
        self.addCleanup(daemon.cleanup)
        self.until(lambda: " persistent rooms" in daemon.run_log(), "the rooms loaded")
        return daemon

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        self.fail(f"timed out after {WAIT}s waiting for {what}")

    def answer(self, node: Daemon, *commands: str) -> Reply:
        """The reply to the last of ``commands``, sent by a fresh guest on ``node``."""
        client = node.connect()
        try:
            client.login("nick", f"guest{next(_GUESTS)}")
            reply = client.command(commands[0])
            for command in commands[1:]:
                reply = client.command(command)
            return reply
        finally:
            client.close()

    def rooms(self, node: Daemon) -> str:
        reply = self.answer(node, "/rooms")
        return "\n".join([*reply.lines, reply.text])

    def test_a_room_made_on_one_node_is_the_same_on_the_other_and_survives(self) -> None:
        one, two = self.nodes
        ann = account(one, "signup", "ann", "password1")
        self.addCleanup(ann.close)
        ann.ok("/create den 5 sesame")

        bob = account(two, "signup", "bob", "password1")
        self.addCleanup(bob.close)
        self.assertEqual(bob.command("/join den wrong").code, 431)
        bob.ok("/join den sesame")
        self.assertIn("den 1/5 locked owned by ann", self.rooms(two))

        ann.ok("/topic den tea and cake")
        self.until(lambda: "owned by ann: tea and cake" in self.rooms(two), "the topic on 2")
        ann.ok("/join den")
        ann.ok("/ban eve*")
        eve = account(two, "signup", "eve2", "password1")
        self.addCleanup(eve.close)
        self.until(lambda: eve.command("/join den sesame").code == 436, "the ban on node 2")

        # Changes go the other way too: node 2's owner session sets the topic.
        ann2 = account(two, "login", "ann", "password1")
        self.addCleanup(ann2.close)
        ann2.ok("/topic den coffee")
        self.until(lambda: "owned by ann: coffee" in self.rooms(one), "the topic on 1")

        self.members.kill()
        self.members.start(self.members.port)
        for node in self.nodes:
            self.until(lambda node=node: "connected to the member service" in
                       node.run_log().split("lost the member service")[-1],
                       "the reconnection")
        ann2.ok("/limit den 7")  # a change after the restart: the definitions are still there
        self.until(lambda: "den 1/7 locked owned by ann: coffee" in self.rooms(one),
                   "node 1 to hear of the change after the restart")
        fresh = self.node()
        self.assertIn("loaded 1 persistent rooms", fresh.run_log())
        self.assertIn("den 0/7 locked owned by ann: coffee", self.rooms(fresh))
        carl = account(fresh, "signup", "carl", "password1")
        self.addCleanup(carl.close)
        self.assertEqual(carl.command("/join den").code, 431)
        self.assertEqual(carl.command("/join den sesame").code, 200)
        for node in (*self.nodes, fresh):
            self.assertEqual(node.problems(), [])

    def test_a_node_whose_member_service_is_down_refuses_room_changes_with_502(self) -> None:
        one, _ = self.nodes
        ann = account(one, "signup", "ann", "password1")
        self.addCleanup(ann.close)
        ann.ok("/create den")
        self.members.kill()
        self.until(lambda: "lost the member service" in one.run_log(), "the loss")
        self.assertEqual(ann.command("/topic den never").code, 502)
        self.assertEqual(ann.command("/create lair").code, 502)
        listed = ann.command("/rooms")
        self.assertIn("den 1/100 open owned by ann", listed.lines)
        self.assertNotIn("lair", str(listed.lines))


class MovingToTheMemberServiceTests(TestCase):
    """A chatd with embedded accounts and rooms moves to a member service with chatd-admin
    export-accounts and export-rooms; its rooms come back, owned as before."""

    def test_exported_rooms_are_served_by_the_member_service(self) -> None:
        data = Path(self.mktemp()).absolute()
        alone = Daemon(data).start()
        self.addCleanup(alone.cleanup)
        ann = account(alone, "signup", "ann", "password1")
        ann.ok("/create den 5 sesame")
        ann.ok("/topic den moved")
        ann.close()
        alone.stop()

        members = MembersDaemon(Path(self.mktemp()).absolute())
        members.data.mkdir(mode=0o700)
        for command in ("export-accounts", "export-rooms"):
            done = subprocess.run(
                [sys.executable, "-c", "from chatd.members.admin import main; main()",
                 "--data", str(data), command, "--to", str(members.data)],
                capture_output=True, text=True, timeout=20, env=daemon_env())
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("1 room exported", done.stdout)
        members.start()
        self.addCleanup(members.kill)
        self.assertIn("member service: 1 room definitions", members.log.read_text())

        node = Daemon(data, [
            "--members", f"tcp:127.0.0.1:{members.port}",
            "--members-secret", str(members.data / "members.secret"),
        ]).start()
        self.addCleanup(node.cleanup)
        deadline = time.monotonic() + WAIT
        while "loaded 1 persistent rooms" not in node.run_log():
            self.assertLess(time.monotonic(), deadline, node.run_log())
            time.sleep(0.1)
        self.assertNotIn("holds room definitions", node.run_log(), "nothing left behind")
        # Still locked: someone else needs the password (its owner gets in without it).
        bob = account(node, "signup", "bob", "password2")
        self.addCleanup(bob.close)
        self.assertEqual(bob.command("/join den").code, 431, "still locked")
        bob.ok("/join den sesame")
        ann = account(node, "login", "ann", "password1")
        self.addCleanup(ann.close)
        ann.ok("/join den")  # owned as before
        self.assertIn("topic: moved", ann.command("/join den").text)
        ann.ok("/topic den owned as before")  # +t: only an operator, here its owner
        ann.ok("/limit den 9")
        self.assertEqual(node.problems(), [])
