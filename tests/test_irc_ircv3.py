"""IRCv3 extensions a modern client uses, sans-IO: labeled-response, client-only tags and
TAGMSG, MONITOR, setname, bot mode and utf8only (specs at ircv3.net)."""

from __future__ import annotations

from test_irc_caps import CapsTestCase, Tagged, send

LABELS = "labeled-response batch echo-message message-tags"


class LabeledResponseTests(CapsTestCase):
    def test_one_reply_carries_the_label(self) -> None:
        client = self.irc("ann", LABELS)
        lines = send(client, "@label=a1 PING tok")
        self.assertEqual([(tags.get("label"), command) for tags, _, command, _ in lines],
                         [("a1", "PONG")])

    def test_no_reply_is_an_ack(self) -> None:
        client = self.irc("ann", LABELS)
        [(tags, _, command, _)] = send(client, "@label=a2 PONG tok")
        self.assertEqual((tags, command), ({"label": "a2"}, "ACK"))

    def test_several_replies_are_a_labeled_batch_with_the_events_in_order(self) -> None:
        client = self.irc("ann", LABELS)
        lines = send(client, "@label=a3 JOIN #den")
        start, *inner, end = lines
        self.assertEqual((start[0]["label"], start[2], start[3][1]),
                         ("a3", "BATCH", "labeled-response"))
        batch = start[3][0][1:]
        self.assertEqual(end[2:], ("BATCH", [f"-{batch}"]))
        self.assertEqual([tags["batch"] for tags, *_ in inner], [batch] * len(inner))
        self.assertEqual(inner[0][2], "JOIN")
        self.assertIn("366", [command for _, _, command, _ in inner])

    def test_errors_and_unknown_commands_are_labeled(self) -> None:
        client = self.irc("ann", LABELS)
        [(tags, _, command, _)] = send(client, "@label=a4 NOSUCHTHING")
        self.assertEqual((tags, command), ({"label": "a4"}, "421"))

    def test_the_echo_is_labeled_and_the_recipient_sees_no_label(self) -> None:
        ann = self.irc("ann", LABELS, "#den")
        bob = self.irc("bob", LABELS, "#den")
        send(ann)
        [(tags, _, command, _)] = send(ann, "@label=a5 PRIVMSG #den :hi")
        self.assertEqual((tags["label"], command), ("a5", "PRIVMSG"))
        [(tags, _, command, _)] = send(bob)
        self.assertNotIn("label", tags)

    def test_a_message_to_oneself_labels_the_echo_alone(self) -> None:
        ann = self.irc("ann", LABELS)
        lines = send(ann, "@label=a6 PRIVMSG ann :me")
        self.assertEqual([(tags.get("label"), command) for tags, _, command, _ in lines],
                         [("a6", "PRIVMSG"), (None, "PRIVMSG")])

    def test_a_labeled_tagmsg_to_a_channel_is_answered_by_its_echo(self) -> None:
        ann = self.irc("ann", LABELS, "#den")
        send(ann)
        [(tags, _, command, _)] = send(ann, "@label=a8;+typing=active TAGMSG #den")
        self.assertEqual((tags["label"], tags["+typing"], command), ("a8", "active", "TAGMSG"))

    def test_a_line_that_is_not_utf8_gets_a_labeled_fail(self) -> None:
        ann = self.irc("ann", LABELS, "#den")
        send(ann)
        ann.protocol.dataReceived(b"@label=a9 PRIVMSG #den :hi\xaa\r\n")
        [(tags, _, command, params)] = send(ann)
        self.assertEqual((tags["label"], command, params[:2]),
                         ("a9", "FAIL", ["PRIVMSG", "INVALID_UTF8"]))

    def test_without_the_capability_the_label_is_ignored(self) -> None:
        client = self.irc("ann", "batch")
        [(tags, _, command, _)] = send(client, "@label=a7 PING tok")
        self.assertEqual((tags, command), ({}, "PONG"))


class ClientTagTests(CapsTestCase):
    def test_client_tags_reach_clients_with_message_tags_only(self) -> None:
        ann = self.irc("ann", "message-tags echo-message", "#den")
        bob = self.irc("bob", "message-tags", "#den")
        carol = self.irc("carol", "server-time", "#den")
        send(ann), send(bob), send(carol)
        [echo] = send(ann, "@+draft/reply=x1;label=no;srv=no PRIVMSG #den :hi")
        [got] = send(bob)
        for tags, _, _, _ in (echo, got):
            self.assertEqual(tags["+draft/reply"], "x1")
            self.assertNotIn("srv", tags)
        self.assertEqual(echo[0]["msgid"], got[0]["msgid"])
        [(tags, _, _, _)] = send(carol)
        self.assertNotIn("+draft/reply", tags)

    def test_tagmsg_is_relayed_to_a_channel_and_dropped_for_clients_without_the_cap(self
                                                                                     ) -> None:
        ann = self.irc("ann", "message-tags echo-message", "#den")
        bob = self.irc("bob", "message-tags", "#den")
        carol = self.irc("carol", "server-time", "#den")
        line = self.line_guest("dave", "den")
        send(ann), send(bob), send(carol), line.read()
        [echo] = send(ann, r"@+typing=active;+draft/react=a\sb TAGMSG #den")
        [got] = send(bob)
        for tags, prefix, command, params in (echo, got):
            self.assertEqual((command, params), ("TAGMSG", ["#den"]))
            self.assertEqual((tags["+typing"], tags["+draft/react"]), ("active", "a b"))
            self.assertTrue(prefix.startswith("ann!"))
        self.assertEqual(echo[0]["msgid"], got[0]["msgid"])
        self.assertEqual(send(carol), [])
        self.assertEqual(line.read(), [])

    def test_tagmsg_to_a_nick_and_its_echo(self) -> None:
        ann = self.irc("ann", "message-tags echo-message")
        bob = self.irc("bob", "message-tags")
        [(echo, _, command, params)] = send(ann, "@+typing=paused TAGMSG bob")
        self.assertEqual((echo["+typing"], command, params), ("paused", "TAGMSG", ["bob"]))
        [(tags, _, command, params)] = send(bob)
        self.assertEqual((tags["+typing"], command, params), ("paused", "TAGMSG", ["bob"]))
        self.assertEqual(echo["msgid"], tags["msgid"])

    def test_a_tagged_message_leaves_no_tags_for_the_next(self) -> None:
        ann = self.irc("ann", "message-tags", "#den")
        bob = self.irc("bob", "message-tags", "#den")
        send(bob)
        send(ann, "@+draft/reply=x1 PRIVMSG #den :one", "PRIVMSG #den :two")
        [(first, *_), (second, *_)] = send(bob)
        self.assertEqual((first.get("+draft/reply"), second.get("+draft/reply")), ("x1", None))

    def test_private_message_tags_follow_the_recipients_capability(self) -> None:
        ann = self.irc("ann", "message-tags echo-message")
        bob = self.irc("bob")
        send(ann, "@+draft/reply=m1 PRIVMSG bob :yo")
        [(tags, _, _, _)] = send(bob)
        self.assertEqual(tags, {})
        send(bob, "CAP REQ :message-tags")
        send(ann, "@+draft/reply=m1 PRIVMSG bob :again")
        [(tags, _, _, _)] = send(bob)
        self.assertEqual(tags["+draft/reply"], "m1")

    def test_tagmsg_needs_registration_and_without_tags_goes_nowhere(self) -> None:
        early = self.connect()
        self.assertEqual([command for _, _, command, _ in send(early, "TAGMSG #den")], ["451"])
        ann = self.irc("ann", "message-tags echo-message", "#den")
        bob = self.irc("bob", "message-tags", "#den")
        send(ann), send(bob)
        self.assertEqual(send(ann, "TAGMSG #den"), [])
        self.assertEqual(send(bob), [])

    def test_over_4094_bytes_of_tag_data_is_417(self) -> None:
        ann = self.irc("ann", "message-tags echo-message", "#den")
        send(ann)
        self.assertEqual(send(ann, "@+a=%s TAGMSG #den" % ("x" * 4091))[0][2], "TAGMSG")
        self.assertEqual(send(ann, "@+a=%s TAGMSG #den" % ("x" * 4092))[0][2], "417")


class MonitorTests(CapsTestCase):
    def numerics(self, lines: list[Tagged]) -> list[tuple[str, list[str]]]:
        return [(command, params[1:]) for _, _, command, params in lines]

    def test_added_targets_are_answered_online_or_offline(self) -> None:
        self.irc("bob")
        ann = self.irc("ann")
        self.assertEqual(self.numerics(send(ann, "MONITOR + Bob,zed,*!u@h")),
                         [("730", ["bob!bob@chatd"]), ("731", ["zed,*!u@h"])])
        self.assertEqual(self.numerics(send(ann, "MONITOR L")),
                         [("732", ["Bob,zed"]), ("733", ["End of MONITOR list"])])

    def test_coming_going_and_renames_are_told_to_the_watcher_alone(self) -> None:
        ann = self.irc("ann")
        other = self.irc("eve")
        send(ann, "MONITOR + zed")
        zed = self.irc("zed")
        self.assertEqual(self.numerics(send(ann)), [("730", ["zed!zed@chatd"])])
        self.assertEqual(send(other), [])
        send(zed, "NICK ZED")
        self.assertEqual(send(ann), [])
        send(zed, "NICK zoe")
        self.assertEqual(self.numerics(send(ann)), [("731", ["ZED"])])
        send(zed, "NICK zed")
        self.assertEqual(self.numerics(send(ann)), [("730", ["zed!zed@chatd"])])
        send(zed, "QUIT :bye")
        zed.drop()
        self.assertEqual(self.numerics(send(ann)), [("731", ["zed"])])

    def test_remove_clear_status_and_the_limit(self) -> None:
        self.irc("bob")
        ann = self.irc("ann")
        send(ann, "MONITOR + bob,zed")
        self.assertEqual(self.numerics(send(ann, "MONITOR S")),
                         [("730", ["bob!bob@chatd"]), ("731", ["zed"])])
        send(ann, "MONITOR - bob")
        self.assertEqual(self.numerics(send(ann, "MONITOR L"))[0], ("732", ["zed"]))
        send(ann, "MONITOR C")
        self.assertEqual(self.numerics(send(ann, "MONITOR L")),
                         [("733", ["End of MONITOR list"])])
        many = ",".join(f"n{i}" for i in range(101))
        self.assertEqual(send(ann, f"MONITOR + {many}")[0][2], "734")
        self.assertIn("MONITOR=100", " ".join(
            " ".join(params) for _, _, command, params in send(self.connect(), "NICK x",
                                                               "USER x 0 * :x")
            if command == "005"))


class SetnameTests(CapsTestCase):
    def test_a_new_real_name_is_told_to_peers_with_the_capability(self) -> None:
        ann = self.irc("ann", "setname", "#den")
        bob = self.irc("bob", "setname", "#den")
        carol = self.irc("carol", "", "#den")
        send(ann), send(bob), send(carol)
        [(_, prefix, command, params)] = send(ann, "SETNAME :Ann Other")
        self.assertEqual((prefix, command, params), ("ann!ann@chatd", "SETNAME", ["Ann Other"]))
        self.assertEqual(send(bob)[0][2:], ("SETNAME", ["Ann Other"]))
        self.assertEqual(send(carol), [])
        whois = [params for _, _, command, params in send(carol, "WHOIS ann")
                 if command == "311"]
        self.assertEqual(whois[0][-1], "Ann Other")

    def test_an_empty_or_long_real_name_is_refused(self) -> None:
        ann = self.irc("ann", "setname")
        for bad in (" ", "x" * 101):
            [(_, _, command, params)] = send(ann, f"SETNAME :{bad}")
            self.assertEqual((command, params[:2]), ("FAIL", ["SETNAME", "INVALID_REALNAME"]))


class BotModeTests(CapsTestCase):
    def test_bot_mode_tags_messages_and_shows_in_the_view(self) -> None:
        bot = self.irc("robo", "message-tags echo-message", "#den")
        ann = self.irc("ann", "message-tags", "#den")
        plain = self.irc("bob", "", "#den")
        send(bot), send(ann), send(plain)
        [(_, prefix, command, params)] = send(bot, "MODE robo +B")
        self.assertEqual((prefix, command, params), ("robo!robo@chatd", "MODE", ["robo", "+B"]))
        self.assertTrue(bot.protocol.me.whois("robo").bot)
        self.assertEqual(send(bot, "MODE robo")[0][2:], ("221", ["robo", "+iB"]))
        [(echo, *_)] = send(bot, "PRIVMSG #den :beep")
        [(tags, *_)] = send(ann)
        self.assertEqual((echo["bot"], tags["bot"]), ("", ""))
        self.assertEqual(send(plain)[0][0], {})
        send(bot, "PRIVMSG ann :boop")
        self.assertIn("bot", send(ann)[0][0])
        send(bot, "MODE robo -B")
        send(bot, "PRIVMSG #den :human now")
        self.assertNotIn("bot", send(ann)[0][0])
        self.assertIn("BOT=B", " ".join(
            " ".join(params) for _, _, command, params in send(self.connect(), "NICK x",
                                                               "USER x 0 * :x")
            if command == "005"))


    def test_whois_and_who_show_a_bot(self) -> None:
        bot = self.irc("robo", "", "#den")
        ann = self.irc("ann", "", "#den")
        send(bot, "MODE robo +B"), send(ann)
        whois = {command: params for _, _, command, params in send(ann, "WHOIS robo")}
        self.assertEqual(whois["335"], ["ann", "robo", "is a bot"])
        rows = {params[5]: params[6] for _, _, command, params in send(ann, "WHO #den")
                if command == "352"}
        self.assertEqual((rows["robo"], rows["ann"]), ("HB@", "H"))
        [(_, _, _, params), _] = send(ann, "WHO robo %nf")
        self.assertEqual(params[1:], ["robo", "HB"])
        send(bot, "MODE robo -B")
        self.assertNotIn("335", [command for _, _, command, _ in send(ann, "WHOIS robo")])


class ExtendedMonitorTests(CapsTestCase):
    def test_a_monitored_nicks_away_and_real_name_reach_watchers_with_the_caps(self) -> None:
        ann = self.irc("ann", "extended-monitor away-notify setname")
        plain = self.irc("eve", "away-notify setname")
        bob = self.irc("bob")
        send(ann, "MONITOR + bob"), send(plain, "MONITOR + bob")
        send(bob, "AWAY :lunch")
        self.assertEqual(send(ann)[0][1:], ("bob!bob@chatd", "AWAY", ["lunch"]))
        send(bob, "SETNAME :Bob B")
        self.assertEqual(send(ann)[0][2:], ("SETNAME", ["Bob B"]))
        self.assertEqual(send(plain), [])
