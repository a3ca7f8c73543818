"""IRCv3 capabilities on live traffic, sans-IO: server-time, message-tags, account-tag,
extended-join, away-notify and echo-message, enabled at registration or later with CAP REQ,
and the cost that must not grow with them: one render per set of capabilities per message.

Tags are split off and unescaped here, by the rules of the IRCv3 message-tags spec, and the
rest of each line is parsed with Twisted's ``irc.parsemsg``, so a codec bug can't hide by
agreeing with itself.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from test_irc import IRCClient, IRCTestCase, commands
from twisted.words.protocols.irc import parsemsg

from chatd.frontends.irc import rendering
from chatd.frontends.rendering import render_event as render_line
from chatd.frontends.web.codec import render_payload
from chatd.kernel.events import AwayChanged, Event, Joined, Said

Tagged = tuple[dict[str, str], str, str, list[str]]

_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), value)


def parse_tagged(raw: str) -> Tagged:
    tags: dict[str, str] = {}
    if raw.startswith("@"):
        head, _, raw = raw.partition(" ")
        for item in head[1:].split(";"):
            key, _, value = item.partition("=")
            tags[key] = unescape(value)
    prefix, command, params = parsemsg(raw)
    return tags, prefix, command, params


def read(client: IRCClient) -> list[Tagged]:
    client.clock.advance(0)
    data = client.transport.value()
    client.transport.clear()
    lines = data.decode().split("\r\n")[:-1]
    for line in lines:
        body = line.partition(" ")[2] if line.startswith("@") else line
        assert len(body.encode()) + 2 <= 512, line
    return [parse_tagged(line) for line in lines]


def send(client: IRCClient, *lines: str) -> list[Tagged]:
    client.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())
    return read(client)


def untagged(lines: list[Tagged]) -> list[tuple[str, str, list[str]]]:
    return [(prefix, command, params) for _, prefix, command, params in lines]


def iso(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


ALL = "server-time message-tags account-tag extended-join away-notify echo-message"


class CapsTestCase(IRCTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.world.clock.advance(1_764_453_121.5)

    def irc(self, nick: str, caps: str = "", *channels: str, password: str = "") -> IRCClient:
        """An IRC client that enabled ``caps`` before registering (a guest, or with
        ``password`` the account ``nick``), in ``channels``; its input read."""
        client = self.connect()
        lines = ["CAP LS 302"]
        if caps:
            lines.append(f"CAP REQ :{caps}")
        if password:
            lines.append(f"PASS {password}")
        lines += [f"NICK {nick}", f"USER {nick} 0 * :{nick.title()} Example", "CAP END"]
        welcome = send(client, *lines)
        self.assertIn("001", [command for _, _, command, _ in welcome])
        for name in channels:
            self.assertIn("JOIN", [command for _, _, command, _ in send(client,
                                                                        f"JOIN {name}")])
        return client

    def account(self, nick: str, caps: str = "", *channels: str) -> IRCClient:
        self.line_account(nick).drop()
        return self.irc(nick, caps, *channels, password="password1")

    def spy_room(self, room: str) -> list[Event]:
        """The events a wire-less session in ``room`` sees (to look at their render cache)."""
        session, mind = self.world.spy("spy")
        session.join(room)
        return mind.events


class TwoCapSetsTests(CapsTestCase):
    def test_two_clients_with_different_caps_in_one_room_get_their_own_lines(self) -> None:
        plain = self.irc("pat", "", "#lobby")
        tagged = self.irc("tia", "server-time message-tags account-tag", "#lobby")
        ann = self.account("ann", "", "#lobby")
        read(plain), read(tagged)
        send(ann, "PRIVMSG #lobby :hello all")
        said = self.world.server.rooms["lobby"]
        self.assertIn("ann", said.members)
        got_plain, got_tagged = read(plain), read(tagged)
        self.assertEqual(got_plain, [({}, "ann!ann@chatd", "PRIVMSG", ["#lobby", "hello all"])])
        [(tags, prefix, command, params)] = got_tagged
        self.assertEqual((prefix, command, params),
                         ("ann!ann@chatd", "PRIVMSG", ["#lobby", "hello all"]))
        self.assertEqual(set(tags), {"time", "msgid", "account"})
        self.assertEqual(tags["time"], iso(self.world.clock.seconds()))
        self.assertEqual(tags["account"], "ann")
        self.assertTrue(tags["msgid"])

    def test_a_guests_message_has_no_account_tag_and_the_same_msgid_for_everyone(self) -> None:
        one = self.irc("one", "message-tags account-tag", "#lobby")
        two = self.irc("two", "message-tags", "#lobby")
        guest = self.irc("gus", "echo-message message-tags", "#lobby")
        read(one), read(two)
        echoed = send(guest, "PRIVMSG #lobby :hi")
        [(tags_one, *_)], [(tags_two, *_)] = read(one), read(two)
        self.assertNotIn("account", tags_one)
        self.assertEqual(tags_one["msgid"], tags_two["msgid"])
        self.assertEqual(echoed[0][0]["msgid"], tags_one["msgid"])

    def test_events_other_than_messages_get_time_but_no_msgid(self) -> None:
        watcher = self.irc("wat", "server-time message-tags", "#lobby")
        other = self.irc("oth", "", "#lobby")
        read(watcher)
        send(other, "TOPIC #lobby :a topic", "PART #lobby :bye")
        lines = read(watcher)
        self.assertEqual([command for _, _, command, _ in lines], ["TOPIC", "PART"])
        for tags, *_ in lines:
            self.assertEqual(set(tags), {"time"})

    def test_private_messages_carry_the_tags_too(self) -> None:
        bob = self.irc("bob", "server-time message-tags account-tag")
        ann = self.account("ann")
        send(ann, "PRIVMSG bob :psst")
        [(tags, prefix, command, params)] = read(bob)
        self.assertEqual((prefix, command, params), ("ann!ann@chatd", "PRIVMSG", ["bob", "psst"]))
        self.assertEqual(tags["account"], "ann")
        self.assertEqual(set(tags), {"time", "msgid", "account"})

    def test_line_users_messages_are_tagged_for_irc_clients(self) -> None:
        tia = self.irc("tia", "server-time account-tag", "#lobby")
        line = self.line_account("lin")
        line.send("/join lobby")
        read(tia)
        line.send("from the line")
        [(tags, prefix, _, params)] = read(tia)
        self.assertEqual((prefix, params), ("lin!lin@chatd", ["#lobby", "from the line"]))
        self.assertEqual(tags, {"account": "lin", "time": iso(self.world.clock.seconds())})


class RenderOnceTests(CapsTestCase):
    def test_a_message_is_rendered_once_per_set_of_capabilities(self) -> None:
        for i in range(3):
            self.irc(f"a{i}", "server-time message-tags", "#lobby")
            self.irc(f"b{i}", "server-time account-tag echo-message", "#lobby")
            self.irc(f"p{i}", "", "#lobby")
        self.irc("e0", "echo-message", "#lobby")  # echo alone changes no rendering
        line = self.line_guest("lin", "lobby")
        events = self.spy_room("lobby")
        calls: list[Event] = []
        counted = rendering.event_tags

        def counting(event: Event, caps: object) -> dict[str, str]:
            calls.append(event)
            return counted(event, caps)  # type: ignore[arg-type]

        self.patch(rendering, "event_tags", counting)
        line.send("one message")
        said = events[-1]
        self.assertIsInstance(said, Said)
        self.assertEqual(calls, [said, said])  # two tagged sets, each rendered once
        made = self.factory.renderers
        self.assertEqual(set(said.wire), {
            made.plain, render_line,
            made(["server-time", "message-tags"]),
            made(["server-time", "account-tag", "echo-message"]),
        })

    def test_a_cap_set_gets_one_shared_render_function(self) -> None:
        made = self.factory.renderers
        self.assertIs(made(["server-time", "multi-prefix"]), made(["server-time"]))
        self.assertIs(made(["echo-message", "batch"]), made.plain)
        self.assertIsNot(made(["server-time"]), made(["server-time", "message-tags"]))
        one = self.irc("one", "server-time echo-message")
        two = self.irc("two", "server-time")
        self.assertIs(one.protocol.render, two.protocol.render)


class CapReqAfterRegistrationTests(CapsTestCase):
    def test_cap_req_after_registration_switches_live_rendering(self) -> None:
        watcher = self.irc("wat", "", "#lobby")
        talker = self.irc("tal", "", "#lobby")
        read(watcher)
        send(talker, "PRIVMSG #lobby :before")
        self.assertEqual(read(watcher)[0][0], {})
        self.assertEqual(send(watcher, "CAP REQ :server-time message-tags"),
                         [({}, "chatd", "CAP", ["wat", "ACK", "server-time message-tags"])])
        send(talker, "PRIVMSG #lobby :after")
        [(tags, _, _, params)] = read(watcher)
        self.assertEqual(params, ["#lobby", "after"])
        self.assertEqual(set(tags), {"time", "msgid"})
        send(watcher, "CAP REQ :-server-time -message-tags")
        send(talker, "PRIVMSG #lobby :plain again")
        self.assertEqual(read(watcher), [({}, "tal!tal@chatd", "PRIVMSG",
                                          ["#lobby", "plain again"])])

    def test_echo_message_enabled_later_brings_ones_own_messages_back(self) -> None:
        talker = self.irc("tal", "", "#lobby")
        self.assertEqual(send(talker, "PRIVMSG #lobby :not echoed"), [])
        send(talker, "CAP REQ echo-message")
        self.assertEqual(untagged(send(talker, "PRIVMSG #lobby :echoed")),
                         [("tal!tal@chatd", "PRIVMSG", ["#lobby", "echoed"])])
        send(talker, "CAP REQ -echo-message")
        self.assertEqual(send(talker, "PRIVMSG #lobby :not again"), [])

    def test_a_nakd_request_changes_nothing(self) -> None:
        watcher = self.irc("wat", "", "#lobby")
        talker = self.irc("tal", "", "#lobby")
        read(watcher)
        self.assertEqual(untagged(send(watcher, "CAP REQ :server-time frob")),
                         [("chatd", "CAP", ["wat", "NAK", "server-time frob"])])
        send(talker, "PRIVMSG #lobby :hi")
        self.assertEqual(read(watcher)[0][0], {})


class EchoMessageTests(CapsTestCase):
    def test_the_sender_gets_its_channel_message_back_with_its_tags(self) -> None:
        ann = self.account("ann", "echo-message server-time message-tags account-tag",
                           "#lobby")
        bob = self.irc("bob", "message-tags", "#lobby")
        read(ann)
        [(tags, prefix, command, params)] = send(ann, "PRIVMSG #lobby :\x01ACTION waves\x01")
        self.assertEqual((prefix, command, params),
                         ("ann!ann@chatd", "PRIVMSG", ["#lobby", "\x01ACTION waves\x01"]))
        self.assertEqual(tags["account"], "ann")
        self.assertEqual(tags["msgid"], read(bob)[0][0]["msgid"])

    def test_a_notice_comes_back_as_a_notice(self) -> None:
        ann = self.irc("ann", "echo-message", "#lobby")
        self.assertEqual(untagged(send(ann, "NOTICE #lobby :note")),
                         [("ann!ann@chatd", "NOTICE", ["#lobby", "note"])])

    def test_private_messages_are_echoed_too(self) -> None:
        ann = self.irc("ann", "echo-message server-time")
        bob = self.irc("bob")
        lines = send(ann, "PRIVMSG bob :psst", "NOTICE bob :fyi")
        self.assertEqual(untagged(lines), [("ann!ann@chatd", "PRIVMSG", ["bob", "psst"]),
                                           ("ann!ann@chatd", "NOTICE", ["bob", "fyi"])])
        self.assertEqual(lines[0][0], {"time": iso(self.world.clock.seconds())})
        self.assertEqual(commands(bob.read()), ["PRIVMSG", "NOTICE"])

    def test_a_private_echo_is_the_text_the_recipient_got(self) -> None:
        # Found by the fast path's property test: the echo carried the tab the core makes
        # a space, a control character in a server line.
        ann = self.irc("ann", "echo-message")
        bob = self.irc("bob")
        self.assertEqual(untagged(send(ann, "PRIVMSG bob :a\tb")),
                         [("ann!ann@chatd", "PRIVMSG", ["bob", "a b"])])
        self.assertEqual(untagged(read(bob)), [("ann!ann@chatd", "PRIVMSG", ["bob", "a b"])])

    def test_a_private_echo_names_the_message_as_its_delivery_does(self) -> None:
        # CHATHISTORY's msgid= of a private message comes from the sender's echo.
        ann = self.irc("ann", "echo-message server-time message-tags")
        bob = self.irc("bob", "server-time message-tags")
        self.world.clock.advance(0.25)
        [(echo, *_)] = send(ann, "PRIVMSG bob :psst")
        [(delivered, *_)] = read(bob)
        self.assertTrue(echo["msgid"])
        self.assertEqual(echo, delivered)

    def test_a_message_to_oneself_comes_back_twice_with_echo_message(self) -> None:
        ann = self.irc("ann", "echo-message message-tags")
        lines = send(ann, "PRIVMSG ann :note to self")
        self.assertEqual(untagged(lines), 2 * [("ann!ann@chatd", "PRIVMSG",
                                                ["ann", "note to self"])])
        self.assertEqual(lines[0][0], lines[1][0])

    def test_a_refused_message_is_not_echoed(self) -> None:
        ann = self.irc("ann", "echo-message")
        self.assertEqual(commands(untagged(send(ann, "PRIVMSG #nowhere :hi",
                                                "PRIVMSG nobody :hi"))), ["401", "401"])

    def test_without_echo_message_the_sender_gets_nothing_back(self) -> None:
        ann = self.irc("ann", "server-time", "#lobby")
        self.assertEqual(send(ann, "PRIVMSG #lobby :hi", "PRIVMSG ann :me"),
                         [({"time": iso(self.world.clock.seconds())}, "ann!ann@chatd",
                           "PRIVMSG", ["ann", "me"])])


class ExtendedJoinTests(CapsTestCase):
    def test_join_shows_the_account_and_the_real_name(self) -> None:
        watcher = self.irc("wat", "extended-join", "#lobby")
        plain = self.irc("pat", "", "#lobby")
        read(watcher), read(plain)
        ann = self.account("ann", "", "#lobby")
        self.assertEqual(untagged(read(watcher)),
                         [("ann!ann@chatd", "JOIN", ["#lobby", "ann", "Ann Example"])])
        self.assertEqual(untagged(read(plain)), [("ann!ann@chatd", "JOIN", ["#lobby"])])
        send(ann, "PART #lobby")
        read(watcher)
        self.irc("gus", "", "#lobby")
        self.assertEqual(untagged(read(watcher)),
                         [("gus!gus@chatd", "JOIN", ["#lobby", "*", "Gus Example"])])

    def test_ones_own_join_and_a_line_users_join(self) -> None:
        watcher = self.irc("wat", "extended-join")
        self.assertEqual(untagged(send(watcher, "JOIN #lobby"))[0],
                         ("wat!wat@chatd", "JOIN", ["#lobby", "*", "Wat Example"]))
        self.line_guest("lin", "lobby")
        self.line_account("acc").send("/join lobby")
        self.assertEqual(untagged(read(watcher)), [
            ("lin!lin@chatd", "JOIN", ["#lobby", "*", "chatd guest"]),
            ("acc!acc@chatd", "JOIN", ["#lobby", "acc", "chatd account"]),
        ])

    def test_a_second_sessions_channels_are_shown_with_extended_join(self) -> None:
        first = self.line_account("gina")
        first.send("/join lobby")
        client = self.connect()
        lines = send(client, "CAP LS 302", "CAP REQ :extended-join", "PASS password1",
                     "NICK gina", "USER g 0 * :Gina G", "CAP END")
        joins = [line for line in untagged(lines) if line[1] == "JOIN"]
        self.assertEqual(joins, [("gina!gina@chatd", "JOIN", ["#lobby", "gina", "Gina G"])])


class AccountTagTests(CapsTestCase):
    def test_joins_and_messages_of_an_account_carry_its_name(self) -> None:
        watcher = self.irc("wat", "account-tag", "#lobby")
        read(watcher)
        ann = self.account("ann", "", "#lobby")
        send(ann, "PRIVMSG #lobby :hi", "NOTICE #lobby :fyi")
        lines = read(watcher)
        self.assertEqual([command for _, _, command, _ in lines], ["JOIN", "PRIVMSG", "NOTICE"])
        self.assertEqual([tags for tags, *_ in lines], [{"account": "ann"}] * 3)

    def test_an_invite_from_an_account_carries_its_name(self) -> None:
        guest = self.irc("gus", "account-tag")
        ann = self.account("ann", "", "#lobby")
        read(guest)
        send(ann, "INVITE gus #lobby")
        [(tags, prefix, command, _)] = read(guest)
        self.assertEqual((tags, prefix, command), ({"account": "ann"}, "ann!ann@chatd", "INVITE"))
        send(guest, "JOIN #lobby")
        bob = self.irc("bob", "account-tag")
        send(guest, "INVITE bob #lobby")
        self.assertEqual([(tags, command) for tags, _, command, _ in read(bob)],
                         [({}, "INVITE")])

    def test_nothing_for_a_client_without_the_capability(self) -> None:
        watcher = self.irc("wat", "", "#lobby")
        read(watcher)
        ann = self.account("ann", "", "#lobby")
        send(ann, "PRIVMSG #lobby :hi")
        self.assertEqual([tags for tags, *_ in read(watcher)], [{}, {}])

    def test_history_replay_carries_the_account_tag(self) -> None:
        self.account("ann", "", "#lobby")
        events = self.spy_room("lobby")
        session = self.world.server.users["ann"].sessions[0]
        session.say("kept")
        self.assertTrue(events[-1].account)  # type: ignore[attr-defined]
        tags = rendering.event_tags(events[-1], ["account-tag", "server-time"])
        self.assertEqual(tags, {"account": "ann", "time": iso(self.world.clock.seconds())})


class AwayNotifyTests(CapsTestCase):
    def test_others_who_share_a_channel_hear_away_and_back(self) -> None:
        ann = self.irc("ann", "", "#lobby")
        notified = self.irc("not", "away-notify server-time", "#lobby")
        plain = self.irc("pat", "", "#lobby")
        elsewhere = self.irc("els", "away-notify", "#other")
        read(ann), read(notified), read(plain)
        self.assertEqual(untagged(send(ann, "AWAY :lunch")),
                         [("chatd", "306", ["ann", "You have been marked as being away"])])
        self.assertEqual(read(notified), [({"time": iso(self.world.clock.seconds())},
                                           "ann!ann@chatd", "AWAY", ["lunch"])])
        self.assertEqual(read(plain), [])
        self.assertEqual(read(elsewhere), [])
        send(ann, "AWAY :lunch")  # the same message again: nothing new to tell
        self.assertEqual(read(notified), [])
        self.assertEqual(commands(untagged(send(ann, "AWAY"))), ["305"])
        self.assertEqual(untagged(read(notified)), [("ann!ann@chatd", "AWAY", [])])

    def test_someone_away_who_joins_is_shown_away_after_the_join(self) -> None:
        notified = self.irc("not", "away-notify extended-join", "#lobby")
        plain = self.irc("pat", "", "#lobby")
        read(notified), read(plain)
        ann = self.irc("ann")
        send(ann, "AWAY :gone fishing", "JOIN #lobby")
        self.assertEqual(untagged(read(notified)), [
            ("ann!ann@chatd", "JOIN", ["#lobby", "*", "Ann Example"]),
            ("ann!ann@chatd", "AWAY", ["gone fishing"]),
        ])
        self.assertEqual(untagged(read(plain)), [("ann!ann@chatd", "JOIN", ["#lobby"])])

    def test_line_users_get_120_and_set_away_for_irc(self) -> None:
        notified = self.irc("not", "away-notify", "#lobby")
        line = self.line_guest("lin", "lobby")
        read(notified)
        self.assertEqual(line.send("/away on the phone"), ["200 you are away: on the phone"])
        self.assertEqual(untagged(read(notified)), [("lin!lin@chatd", "AWAY", ["on the phone"])])
        send(notified, "AWAY :brb")
        self.assertEqual(line.read(), ["120 not is away: brb"])
        send(notified, "AWAY")
        self.assertEqual(line.read(), ["120 not is back"])
        whois = line.send("/whois not")
        self.assertEqual(whois, ["212 not is a guest; in lobby"])

    def test_the_core_tells_each_other_user_once(self) -> None:
        self.irc("ann", "", "#a", "#b")
        session, mind = self.world.spy("spy")
        session.join("a")
        session.join("b")
        self.world.server.users["ann"].sessions[0].set_away("out")
        away = [event for event in mind.events if type(event).__name__ == "AwayChanged"]
        self.assertEqual(len(away), 1)
        self.assertEqual((away[0].who, away[0].away), ("ann", "out"))  # type: ignore[attr-defined]


class NonMemberOperatorTests(CapsTestCase):
    def test_an_owner_outside_the_room_gets_its_mode_and_topic_back(self) -> None:
        owner_line = self.line_account("owner")
        owner_line.send("/create club 10")
        owner_line.send("/leave club")
        owner_line.drop()
        owner = self.irc("owner", "server-time", password="password1")
        member = self.irc("mem", "", "#club")
        read(member)
        lines = send(owner, "MODE #club +m", "TOPIC #club :owned from outside")
        self.assertEqual(untagged(lines), [
            ("owner!owner@chatd", "MODE", ["#club", "+m"]),
            ("owner!owner@chatd", "TOPIC", ["#club", "owned from outside"]),
        ])
        self.assertEqual(set(lines[0][0]), {"time"})
        self.assertEqual(untagged(read(member)), untagged(lines))

    def test_a_member_operator_gets_it_once(self) -> None:
        ann = self.irc("ann", "", "#lobby")
        self.assertEqual(untagged(send(ann, "MODE #lobby +m")),
                         [("ann!ann@chatd", "MODE", ["#lobby", "+m"])])

    def test_the_line_protocols_owner_outside_the_room_hears_106(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create club 10")
        owner.send("/leave club")
        self.assertEqual(owner.send("/limit club 5"),
                         ["106 [club] owner: member limit is now 5", "200 member limit set to 5"])


class CoreEventTests(CapsTestCase):
    def test_joined_says_whether_an_account_and_away(self) -> None:
        events = self.spy_room("lobby")
        ann = self.account("ann")
        send(ann, "AWAY :busy", "JOIN #lobby")
        joined = events[-1]
        self.assertIsInstance(joined, Joined)
        self.assertEqual((joined.account, joined.away), (True, "busy"))  # type: ignore


class AwayRenderingTests(CapsTestCase):
    def test_away_changes_render_as_120_for_line_and_web_clients(self) -> None:
        self.assertEqual(render_line(AwayChanged("ann", "lunch")),
                         b"120 ann is away: lunch\r\n")
        self.assertEqual(render_line(AwayChanged("ann")), b"120 ann is back\r\n")
        payload = json.loads(render_payload(AwayChanged("ann", "lunch", id="c-1", at=2.0)))
        self.assertEqual(payload, {"code": 120, "text": "ann is away: lunch", "event": {
            "type": "AwayChanged", "id": "c-1", "at": 2.0, "who": "ann", "away": "lunch"}})
