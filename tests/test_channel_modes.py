"""Channel modes as IRC clients and irctest expect them, and their line-protocol equivalents:
``-l`` back to the default limit, flags changed together told once, 324/329, no external
messages (+n), secret rooms (+s), INVITE's refusals naming the channel, 333 after a topic,
and a JOIN waiting for its key check before the next line is read.
"""

from __future__ import annotations

from test_irc import IRCTestCase, commands, find


class LimitAndModeIsTests(IRCTestCase):
    def test_minus_l_is_echoed_as_minus_l_and_puts_back_the_default_limit(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("MODE #a +l 1")
        self.assertEqual(commands(self.guest("bob").send("JOIN #a")), ["471"])
        self.assertEqual(ann.send("MODE #a -l"), [("ann!ann@chatd", "MODE", ["#a", "-l"])])
        room = self.world.server.rooms["a"]
        self.assertEqual(room.limit, self.world.server.limits.default_room_limit)

    def test_324_shows_the_limit_only_when_set_and_329_follows(self) -> None:
        self.world.clock.advance(1_700_000_000)
        ann = self.guest("ann", "#a")
        self.assertEqual(find(ann.send("MODE #a"), "324")[1:], ["#a", "+n"])
        ann.send("MODE #a +l 5")
        lines = ann.send("MODE #a")
        self.assertEqual(commands(lines), ["324", "329"])
        self.assertEqual(find(lines, "324")[2:], ["+nl", "5"])
        self.assertEqual(find(lines, "329")[2], "1700000000")

    def test_flags_changed_together_are_one_mode_line(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob", "#a")
        ann.read()
        self.assertEqual(ann.send("MODE #a +it"), [("ann!ann@chatd", "MODE", ["#a", "+it"])])
        self.assertEqual(ann.send("MODE #a -int"), [("ann!ann@chatd", "MODE", ["#a", "-int"])])
        self.assertEqual(find(ann.send("MODE #a"), "324")[2:], ["+"])
        self.assertEqual(len(bob.read()), 2)

    def test_the_line_protocol_hears_flags_changed_together_as_phrases(self) -> None:
        ann = self.guest("ann", "#a")
        carol = self.line_guest("carol", "a")
        ann.send("MODE #a +ms")
        self.assertEqual(carol.read(), [
            "106 [a] ann: moderated the room: only operators and voiced members talk; "
            "made the room secret: only its members see it"])


class NoExternalMessagesTests(IRCTestCase):
    def test_a_new_room_takes_no_messages_from_outside(self) -> None:
        self.guest("ann", "#a")
        bob = self.guest("bob")
        self.assertEqual(find(bob.send("PRIVMSG #a :hi"), "404")[1], "#a")

    def test_minus_n_lets_a_non_member_talk_to_the_room(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.guest("bob")
        self.assertEqual(ann.send("MODE #a -n"), [("ann!ann@chatd", "MODE", ["#a", "-n"])])
        self.assertEqual(bob.send("PRIVMSG #a :hi from outside"), [])
        self.assertEqual(ann.read(), [("bob!bob@chatd", "PRIVMSG", ["#a", "hi from outside"])])

    def test_a_banned_user_talks_from_outside_no_more_than_inside(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.guest("bob")
        ann.send("MODE #a -n", "MODE #a +b bob")
        self.assertEqual(commands(bob.send("PRIVMSG #a :hi")), ["404"])

    def test_the_line_protocol_sets_n_with_mode(self) -> None:
        carol = self.line_guest("carol", "lobby")
        self.assertEqual(carol.send("/mode -n")[-1], "200 lobby has no flags set")
        self.assertEqual(carol.send("/mode +n")[-1], "200 lobby modes: +n")


class SecretTests(IRCTestCase):
    def test_a_secret_room_is_listed_only_to_its_members(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("MODE #a +s")
        self.assertIn("322", commands(ann.send("LIST")))
        bob = self.guest("bob")
        self.assertEqual(commands(bob.send("LIST")), ["321", "323"])
        carol = self.line_guest("carol")
        self.assertNotIn("a", " ".join(carol.send("/rooms")))

    def test_names_of_a_secret_room_are_marked_and_hidden_from_outside(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("MODE #a +s")
        self.assertEqual(find(ann.send("NAMES #a"), "353")[1:], ["@", "#a", "@ann"])
        bob = self.guest("bob")
        self.assertEqual(commands(bob.send("NAMES #a")), ["366"])
        self.assertNotIn("319", commands(bob.send("WHOIS ann")))

    def test_a_non_member_can_t_talk_to_a_secret_room_even_without_n(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("MODE #a -n+s")
        self.assertEqual(commands(self.guest("bob").send("PRIVMSG #a :hi")), ["404"])


class InviteAndTopicTests(IRCTestCase):
    def test_invite_refusals_name_the_channel(self) -> None:
        ann = self.guest("ann", "#a")
        self.guest("bob")
        carol = self.guest("carol")
        self.assertEqual(find(carol.send("INVITE bob #a"), "442")[1], "#a")
        ann.send("MODE #a +i")
        carol.send("JOIN #b")
        dave = self.guest("dave")
        ann.send("INVITE dave #a")
        dave.send("JOIN #a")
        self.assertEqual(find(dave.send("INVITE bob #a"), "482")[1], "#a")

    def test_333_follows_the_topic_on_join(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("TOPIC #a :hello")
        lines = self.guest("bob").send("JOIN #a")
        self.assertEqual(find(lines, "332")[1:], ["#a", "hello"])
        self.assertEqual(find(lines, "333")[1:3], ["#a", "ann!ann@chatd"])


class OrderTests(IRCTestCase):
    def test_the_next_line_waits_for_a_join_that_checks_a_key(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("MODE #a +k sesame")
        bob = self.guest("bob")
        self.world.hasher.hold = True
        self.assertEqual(bob.send("JOIN #a,#b sesame", "PING x"), [])
        self.world.hasher.release()
        said = commands(bob.read())
        self.assertEqual((said[0], said[-1], said.count("JOIN")), ("JOIN", "PONG", 2))


class InviteNotifyTests(IRCTestCase):
    def test_operators_with_invite_notify_hear_of_an_invitation_and_no_one_else(self) -> None:
        ann = self.guest("ann", "#a")
        ann.send("CAP REQ invite-notify")
        bob = self.guest("bob", "#a")
        ann.send("MODE #a +o bob")
        carol = self.guest("carol", "#a")  # a member, not an operator
        carol.send("CAP REQ invite-notify")
        dave = self.guest("dave")
        line_op = self.line_guest("erin", "a")
        ann.send("MODE #a +o erin")
        for client in (ann, bob, carol):
            client.read()
        line_op.read()
        bob.send("INVITE dave #a")
        self.assertEqual(ann.read(), [("bob!bob@chatd", "INVITE", ["dave", "#a"])])
        self.assertEqual(carol.read(), [])
        self.assertEqual(dave.read(), [("bob!bob@chatd", "INVITE", ["dave", "#a"])])
        self.assertEqual(line_op.read(), [])

    def test_an_operator_without_invite_notify_hears_nothing(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.guest("bob", "#a")
        ann.send("MODE #a +o bob")
        self.guest("dave")
        ann.read()
        bob.send("INVITE dave #a")
        self.assertEqual(ann.read(), [])
