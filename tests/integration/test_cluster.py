"""Three chatd nodes sharing rooms through a real redis-server and one member service.

Each test starts Redis on a free loopback port (persistence off), ``twistd chatd-members``
and the nodes it needs, with a short heartbeat (``HEARTBEAT``) so that a dead node is
noticed in a second or two.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.cluster import HEARTBEAT, REDIS, IrcClient, Node, Redis
from tests.integration.harness import Line, LineClient, account, guest, run_twistd
from tests.test_members_daemon import MembersDaemon

pytestmark = pytest.mark.external

# What the machine may add to a heartbeat timeout: several daemons on shared cores.
SLACK = 6.0


def joined(room: str, who: str) -> Callable[[Line], bool]:
    """The 103 telling that ``who`` joined ``room`` (it ends with the count of members)."""
    return lambda line: str(line).startswith(f"103 [{room}] {who} joined")


class ClusterTests(TestCase):
    def setUp(self) -> None:
        if REDIS is None:
            # CI installs it (.ci/run): there a missing redis-server fails, never skips.
            if os.environ.get("CI"):
                self.fail("redis-server is not installed; .ci/run installs it")
            raise SkipTest("redis-server is not installed (apt-get install redis-server)")
        self.redis = Redis().start()
        self.addCleanup(self.redis.cleanup)
        self.members = MembersDaemon(Path(self.mktemp()).absolute()).start()
        self.addCleanup(self.members.kill)
        self.nodes: dict[str, Node] = {}

    def node(self, name: str, *extra: str) -> Node:
        node = Node(Path(self.mktemp()).absolute(), name, self.redis, self.members, extra)
        self.addCleanup(node.cleanup)
        self.nodes[name] = node
        node.start()
        node.wait_log(f"node {name} in step")
        return node

    def line(self, node: Node, name: str) -> LineClient:
        client = guest(node, name)
        self.addCleanup(client.close)
        return client

    def irc(self, node: Node, nick: str) -> IrcClient:
        client = IrcClient(node.irc_port, nick)
        self.addCleanup(client.close)
        return client

    def until(self, condition: object, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        self.fail(f"timed out after {seconds}s waiting for {what}")

    def who(self, client: LineClient, room: str) -> list[str]:
        reply = client.command(f"/who {room}")
        self.assertEqual(reply.code, 211, str(reply))
        return sorted(name.lstrip("@+") for line in reply.lines for name in line.split())

    def no_problems(self) -> None:
        for node in self.nodes.values():
            self.assertEqual(node.problems(), [], node.name)

    def test_users_on_three_nodes_talk_in_one_room_and_see_each_other(self) -> None:
        a = self.node("a", "--metrics", "tcp:0:interface=127.0.0.1")
        b, c = self.node("b"), self.node("c")
        ann = self.line(a, "ann")
        bob, cat = self.irc(b, "bob"), self.irc(c, "cat")
        ann.ok("/join lobby")
        for client in (bob, cat):
            client.send("JOIN #lobby")
            client.wait(lambda line, client=client: f" 366 {client.nick} " in line)
        ann.wait_event(joined("lobby", "cat"))
        self.assertEqual(self.who(ann, "lobby"), ["ann", "bob", "cat"])
        self.assertEqual(bob.names("#lobby"), {"ann", "bob", "cat"})
        self.assertEqual(cat.names("#lobby"), {"ann", "bob", "cat"})
        lobby = [line for line in ann.command("/rooms").lines if line.startswith("lobby ")]
        self.assertEqual(lobby, ["lobby 3/100 open temporary"])

        ann.send("hello from a")
        for client in (bob, cat):
            client.wait(lambda line: line.endswith("PRIVMSG #lobby :hello from a"))
        bob.send("PRIVMSG #lobby :hello from b")
        ann.wait_event("101 [lobby] <bob> hello from b")
        cat.wait(lambda line: line.endswith("PRIVMSG #lobby :hello from b"))

        # Private messages across nodes, both ways.
        ann.ok("/msg cat psst")
        cat.wait(lambda line: line.startswith(":ann!") and line.endswith("PRIVMSG cat :psst"))
        cat.send("PRIVMSG ann :back at you")
        ann.wait_event("102 *cat* back at you")
        # A guest's name is taken on every node.
        self.assertEqual(a.connect().command("/nick Bob").code, 409)

        # One PUBLISH per room message, however many nodes and members.
        before = self.redis.publishes()
        ann.send("counted")
        for client in (bob, cat):
            client.wait(lambda line: line.endswith("PRIVMSG #lobby :counted"))
        self.assertEqual(self.redis.publishes() - before, 1)

        # --metrics shows the bus.
        site = re.search(r"Site starting on (\d+)", a.run_log())
        assert site is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{site.group(1)}/metrics",
                                    timeout=5) as page:
            metrics = page.read().decode()
        self.assertIn("chatd_cluster_up 1.0", metrics)
        self.assertIn("chatd_cluster_nodes 2.0", metrics)
        self.assertIn("chatd_cluster_remote_sessions 2.0", metrics)
        published = re.search(r"^chatd_cluster_publishes_total (\S+)$", metrics, re.M)
        assert published is not None
        self.assertGreater(float(published.group(1)), 0)
        self.no_problems()

    def test_a_room_limit_and_max_users_hold_across_nodes(self) -> None:
        nodes = [self.node(name, "--default-room-limit", "2", "--max-users", "3")
                 for name in ("a", "b", "c")]
        clients = [self.line(node, f"u{index}") for index, node in enumerate(nodes)]
        # Three sessions in the cluster: a fourth is refused on any node.
        for node in nodes:
            self.assertEqual(node.connect().command("/nick extra").code, 504)
        # All three at once: two get in, one finds the room full, whichever node it is on.
        answers: dict[int, int] = {}
        ready = threading.Barrier(3)

        def join(index: int) -> None:
            ready.wait(5)
            answers[index] = clients[index].command("/join small").code

        threads = [threading.Thread(target=join, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(sorted(answers.values()), [200, 200, 432], answers)
        outside = next(i for i, code in answers.items() if code == 432)
        inside = [i for i in range(3) if i != outside]
        # One leaves; its place is free for the one outside, on whichever node.
        clients[inside[0]].ok("/leave small")
        self.until(lambda: clients[outside].command("/join small").code == 200, 5,
                   "the freed place to be taken")
        self.no_problems()

    def test_a_guest_name_is_held_across_nodes_even_at_once(self) -> None:
        nodes = [self.node("a"), self.node("b")]
        clients = [node.connect() for node in nodes]
        for client in clients:
            self.addCleanup(client.close)
        answers: dict[int, int] = {}
        ready = threading.Barrier(2)

        def nick(index: int) -> None:
            ready.wait(5)
            answers[index] = clients[index].command("/nick Twin").code

        threads = [threading.Thread(target=nick, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(sorted(answers.values()), [201, 409], answers)
        winner = next(i for i, code in answers.items() if code == 201)
        clients[winner].command("/quit")
        # Once it has gone, the name is free on the other node.
        self.until(lambda: clients[1 - winner].command("/nick twin").code == 201, 5,
                   "the name to be free")
        self.no_problems()

    def test_a_persistent_room_is_one_room_on_every_node(self) -> None:
        a, b = self.node("a"), self.node("b")
        own = account(a, "signup", "owner", "password1")
        self.addCleanup(own.close)
        self.assertIn(own.command("/create club 5").code, (200, 201))
        bea = self.line(b, "bea")
        # The member service tells b of the room; bea joins it there.
        self.until(lambda: bea.command("/join club").code == 200, 5, "b to know the room")
        own.wait_event(joined("club", "bea"))
        own.ok("/topic club members only")
        bea.wait_event("105 [club] owner set the topic: members only")
        own.ok("/delete club")
        bea.wait_event("104 [club] bea was removed: the room was deleted")
        for client in (own, bea):
            client.sync()
            removed = [str(e) for e in client.events if e.code == 104]
            self.assertEqual(len(removed), len(set(removed)), f"told twice: {removed}")
        self.assertEqual(bea.command("/who club").code, 404)
        self.no_problems()

    def test_a_killed_node_s_members_leave_the_others_rooms(self) -> None:
        a, b, c = self.node("a"), self.node("b"), self.node("c")
        ann, bea, cid = self.line(a, "ann"), self.line(b, "bea"), self.line(c, "cid")
        for client in (ann, bea, cid):
            client.ok("/join lobby")
        ann.wait_event(joined("lobby", "cid"))
        cid.sync()
        b.kill()
        killed = time.monotonic()
        for client in (ann, cid):
            client.wait_event("104 [lobby] bea lost connection", timeout=HEARTBEAT + SLACK)
        self.assertLess(time.monotonic() - killed, HEARTBEAT + SLACK)
        self.assertEqual(self.who(ann, "lobby"), ["ann", "cid"])
        self.assertEqual(self.who(cid, "lobby"), ["ann", "cid"])
        self.assertEqual(ann.command("/msg bea hello?").code, 405)
        # The name is free again, and b restarted under its name takes its place.
        self.node("b")
        bea = self.line(self.nodes["b"], "bea")
        bea.ok("/join lobby")
        for client in (ann, cid):
            client.wait_event(joined("lobby", "bea"))
        self.assertEqual(self.who(cid, "lobby"), ["ann", "bea", "cid"])
        self.no_problems()

    def test_a_live_node_s_name_is_refused(self) -> None:
        a = self.node("a")
        twin = Node(Path(self.mktemp()).absolute(), "a", self.redis, self.members)
        result = run_twistd(twin.args(), twin.cwd, timeout=HEARTBEAT + 20)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("a live node is called a", result.stdout + result.stderr)
        self.assertEqual(a.problems(), [])

    def test_malformed_messages_in_redis_are_dropped_and_the_next_gets_through(self) -> None:
        a, b = self.node("a"), self.node("b", "--metrics", "tcp:0:interface=127.0.0.1")
        ann, bob = self.line(a, "ann"), self.irc(b, "bob")
        ann.ok("/join lobby")
        bob.send("JOIN #lobby")
        bob.wait(lambda line: " 366 bob " in line)
        # chatd.bus.wire's envelopes (version 2): [2, node, "r", room, extra, kind, id, at, ...]
        said = ["Said", "c-1", 1.0, "lobby", "eve", "hi"]

        def room(*row: object) -> str:
            return json.dumps([2, "c", "r", "lobby", None, *row])

        forged = [
            ("chatd:room:lobby", "not json {"), ("chatd:room:lobby", "12"),
            ("chatd:room:lobby", "[1, 2]"), ("chatd:presence", '[2, "c", "p", 5]'),
            ("chatd:room:lobby", room("Said")),
            ("chatd:room:lobby", room("Said", "c-1", "x", "lobby", "eve", 5)),
            ("chatd:room:lobby", room(*said[:5], "x" * 100_000)),
            ("chatd:room:lobby", room(*said[:5], "hi\r\nQUIT :\x1b[2J")),
            ("chatd:room:lobby", room("Bogus", *said[1:])),
            ("chatd:room:lobby", room(*said[:4], "e v\re", "hi")),
            # a node of wire format 1 (a JSON object per message)
            ("chatd:room:lobby", json.dumps({"n": "c", "r": "lobby", "e": {
                "type": "Said", "room": "lobby", "sender": "eve", "text": "hi", "id": "c-3",
                "at": 1.0}})),
            ("chatd:node:b", json.dumps([2, "c", "u", "bob", None, "Private", "c-2", 1.0,
                                         "eve", "bob", "\x1b]0;x"])),
        ]
        for number, (channel, data) in enumerate(forged):
            self.assertRegex(self.redis.call("PUBLISH", channel, data), rb"^:\d+$")
            ann.send(f"good {number}")
            bob.wait(lambda line, n=number: line.endswith(f"PRIVMSG #lobby :good {n}"))
        self.assertEqual([line for line in bob.lines if "eve" in line or "\x1b" in line], [])
        site = re.search(r"Site starting on (\d+)", b.run_log())
        assert site, b.run_log()
        with urllib.request.urlopen(f"http://127.0.0.1:{site.group(1)}/metrics",
                                    timeout=10) as page:
            metrics = page.read().decode()
        self.assertIn('chatd_cluster_malformed_total{source="room"} 10.0', metrics)
        self.assertIn('chatd_cluster_malformed_total{source="presence"} 1.0', metrics)
        self.assertIn('chatd_cluster_malformed_total{source="node"} 1.0', metrics)
        self.assertEqual(b.run_log().count("malformed message(s) from Redis"), 1, b.run_log())
        self.no_problems()

    def test_chat_goes_on_through_a_redis_restart_without_ghosts(self) -> None:
        a, b = self.node("a"), self.node("b")
        ann, amy = self.line(a, "ann"), self.line(a, "amy")
        bea = self.line(b, "bea")
        for client in (ann, amy, bea):
            client.ok("/join lobby")
        ann.wait_event(joined("lobby", "bea"))

        self.redis.stop()
        for client in (ann, bea):
            client.wait_event(lambda line: line.code == 100 and "out of reach" in line.text,
                              timeout=10)
        # Each node goes on serving its own members.
        ann.send("only a hears this")
        amy.wait_event("101 [lobby] <ann> only a hears this")
        bea.ok("/leave lobby")
        bea.ok("/join lobby")  # a change the other node hears of once Redis is back

        self.redis.start()
        for client in (ann, bea):
            client.wait_event(lambda line: line.code == 100 and "reachable again" in line.text,
                              timeout=15)
        self.until(lambda: self.who(ann, "lobby") == ["amy", "ann", "bea"], 10,
                   "a to see b's member again")
        self.assertEqual(self.who(bea, "lobby"), ["amy", "ann", "bea"])
        ann.send("after the restart")
        bea.wait_event("101 [lobby] <ann> after the restart")
        bea.send("heard you")
        ann.wait_event("101 [lobby] <bea> heard you")
        # Nobody twice and nobody gone: the room counts three everywhere.
        for client in (ann, bea):
            rooms = [line for line in client.command("/rooms").lines if line.startswith("lobby ")]
            self.assertEqual(rooms, ["lobby 3/100 open temporary"])
        self.no_problems()

    def test_during_a_redis_outage_the_other_nodes_users_are_marked_unreachable(self) -> None:
        a, b = self.node("a"), self.node("b")
        ann, bea, bob = self.line(a, "ann"), self.line(b, "bea"), self.irc(a, "bob")
        bob.send("JOIN #lobby")
        bob.wait(lambda line: " 366 bob " in line)
        for client in (ann, bea):
            client.ok("/join lobby")
        ann.wait_event(joined("lobby", "bea"))

        self.redis.stop()
        ann.wait_event(lambda line: line.code == 100 and "out of reach" in line.text,
                       timeout=10)
        self.assertEqual(self.who(ann, "lobby"), ["ann", "bea(unreachable)", "bob"])
        self.assertEqual(self.who_flags(bob, "#lobby"), {"ann": "H", "bea": "G", "bob": "H"})
        self.assertIn("unreachable", ann.command("/whois bea").text)
        self.assertEqual(self.who(bea, "lobby"), ["ann(unreachable)", "bea", "bob(unreachable)"])

        self.redis.start()
        ann.wait_event(lambda line: line.code == 100 and "reachable again" in line.text,
                       timeout=15)
        self.until(lambda: self.who(ann, "lobby") == ["ann", "bea", "bob"], 10,
                   "the mark to go once the nodes are in step")
        self.assertEqual(self.who_flags(bob, "#lobby"), {"ann": "H", "bea": "H", "bob": "H"})
        self.assertNotIn("unreachable", ann.command("/whois bea").text)
        self.assertEqual(self.who(bea, "lobby"), ["ann", "bea", "bob"])
        self.no_problems()

    def who_flags(self, client: IrcClient, channel: str) -> dict[str, str]:
        """WHO ``channel``: each nick's here (H) or gone (G) flag."""
        client.send(f"WHO {channel}")
        flags: dict[str, str] = {}
        while True:
            line = client.wait(lambda line: " 352 " in line or " 315 " in line)
            if " 315 " in line:
                return flags
            fields = line.split(" :", 1)[0].split()
            flags[fields[7]] = fields[8][0]

    def test_a_password_on_the_command_line_is_warned_of_and_a_file_keeps_it_out(self) -> None:
        secret = Path(self.mktemp()).absolute()
        secret.write_text(self.redis.password + "\n")
        secret.chmod(0o600)
        bare = f"redis://127.0.0.1:{self.redis.port}/0"
        a = self.node("a", "--cluster", bare, "--cluster-password-file", str(secret))
        b = self.node("b")
        ann, bea = self.line(a, "ann"), self.line(b, "bea")
        ann.ok("/join lobby")
        bea.ok("/join lobby")
        ann.wait_event(joined("lobby", "bea"))
        warning = "password given in --cluster shows in ps"
        self.assertNotIn(warning, a.run_log())
        self.assertEqual(b.run_log().count(warning), 1, b.run_log())
        self.no_problems()

    def test_every_node_replays_the_same_room_history(self) -> None:
        a, b, c = self.node("a"), self.node("b"), self.node("c")
        ann = self.line(a, "ann")
        ann.ok("/join hist")
        for text in ("one", "two"):
            ann.send(text)
            ann.wait_event(f"101 [hist] <ann> {text}")
        # b has nobody in the room: its first member there is replayed what a's said.
        bea = self.line(b, "bea")
        bea.ok("/join hist")
        bea.wait_event(joined("hist", "bea"))  # in a cluster, just after the 200
        self.assertEqual(self.replayed(bea), ["<ann> one", "<ann> two"])
        bea.send("three")
        ann.wait_event("101 [hist] <bea> three")
        cid = self.line(c, "cid")
        cid.ok("/join hist")
        cid.wait_event(joined("hist", "cid"))
        self.assertEqual(self.replayed(cid), ["<ann> one", "<ann> two", "<bea> three"])
        for client in (ann, bea, cid):
            client.events.clear()
            client.ok("/history hist 10")
            self.assertEqual(self.replayed(client), ["<ann> one", "<ann> two", "<bea> three"],
                             client.name)
        # A node stopped with SIGTERM says goodbye: its members leave at once, cleanly.
        self.no_problems()
        self.assertIn(c.stop(), (0, -signal.SIGTERM), c.run_log())
        for client in (ann, bea):
            client.wait_event(lambda line: line.code == 104 and line.text.startswith(
                "[hist] cid "))
        self.assertEqual(self.who(ann, "hist"), ["ann", "bea"])

    def replayed(self, client: LineClient) -> list[str]:
        client.sync()
        return [line.text.split("] ", 1)[1] for line in client.events if line.code == 110]
