"""IRCv3 extensions a modern client uses, sans-IO: labeled-response, client-only tags and
TAGMSG, MONITOR, setname, bot mode and utf8only (specs at ircv3.net)."""

from __future__ import annotations

from test_irc_caps import CapsTestCase, send

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

    def test_without_the_capability_the_label_is_ignored(self) -> None:
        client = self.irc("ann", "batch")
        [(tags, _, command, _)] = send(client, "@label=a7 PING tok")
        self.assertEqual((tags, command), ({}, "PONG"))
