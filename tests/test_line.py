"""The line protocol, sans-IO: every command's replies over a StringTransport, fake clock."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase

from chatd.core.service import Limits
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions

from fakes import Client, World


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


class LineTestCase(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)

    def guest(self, name: str, room: str | None = None) -> Client:
        client = self.world.connect()
        self.assertEqual(codes(client.send(f"/nick {name}")), ["201"])
        if room:
            self.assertEqual(client.send(f"/join {room}")[-1][:3], "200")
        return client

    def account(self, name: str, password: str = "password1") -> Client:
        client = self.world.connect()
        self.assertEqual(codes(client.send(f"/signup {name} {password}")), ["201"])
        return client


class GreetingAndHelp(LineTestCase):
    def test_greeting(self) -> None:
        protocol = self.world.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.world.clock.advance(0)
        self.assertEqual(
            transport.value(),
            b"220 chatd ready. /nick NAME to chat as a guest, /signup NAME PASSWORD or "
            b"/login NAME PASSWORD for an account, /help for all commands (log in within 30 "
            b"seconds; /help gives you longer)\r\n",
        )

    def test_help_is_multiline_and_works_anonymously(self) -> None:
        lines = self.world.connect().send("/help")
        self.assertTrue(all(line.startswith("214-") for line in lines[:-1]))
        self.assertEqual(lines[-1], "214 end of help")
        self.assertTrue(any("/signup NAME PASSWORD" in line for line in lines))

    def test_unknown_command(self) -> None:
        self.assertEqual(self.world.connect().send("/frobnicate"),
                         ["400 unknown command /frobnicate; /help lists them"])

    def test_commands_are_case_insensitive(self) -> None:
        self.assertEqual(codes(self.world.connect().send("/HELP"))[-1], "214")

    def test_wrong_argument_count_shows_usage(self) -> None:
        client = self.guest("ann")
        self.assertEqual(client.send("/join"), ["400 usage: /join ROOM [PASSWORD]"])
        self.assertEqual(client.send("/msg bob"), ["400 usage: /msg USER TEXT"])

    def test_empty_lines_are_ignored(self) -> None:
        self.assertEqual(self.world.connect().send("", "   "), [])


class BeforeLogin(LineTestCase):
    def test_only_some_commands_work_anonymously(self) -> None:
        client = self.world.connect()
        for line in ("/join lobby", "/rooms", "/who lobby", "/msg bob hi", "hello"):
            self.assertEqual(codes(client.send(line)), ["401"], line)

    def test_quit_works_anonymously(self) -> None:
        client = self.world.connect()
        self.assertEqual(client.send("/quit"), ["221 bye"])
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(client.send("/help"), [], "nothing after /quit is run")


class Guests(LineTestCase):
    def test_nick(self) -> None:
        client = self.world.connect()
        self.assertEqual(client.send("/nick ann"),
                         ["201 welcome guest ann: you are a guest; /join a room to talk"])

    def test_nick_in_use_is_refused_case_insensitively(self) -> None:
        self.guest("Ann")
        self.assertEqual(codes(self.world.connect().send("/nick aNN")), ["409"])

    def test_registered_name_is_refused(self) -> None:
        self.account("bob").drop()
        lines = self.world.connect().send("/nick BOB")
        self.assertEqual(codes(lines), ["409"])
        self.assertIn("/login", lines[0])

    def test_lookalike_of_an_online_guest_is_refused(self) -> None:
        self.guest("paypal")
        for name in ("paypa1", "PAYPAL", "pаypal"):  # the last with a Cyrillic а
            self.assertEqual(codes(self.world.connect().send(f"/nick {name}")), ["409"])
        self.assertEqual(codes(self.world.connect().send("/signup paypa1 password1")), ["409"])

    def test_server_like_names_are_reserved(self) -> None:
        for name in ("chatd", "NickServ", "admin", "r00t"):
            self.assertEqual(codes(self.world.connect().send(f"/nick {name}")), ["410"])
            self.assertEqual(codes(self.world.connect().send(f"/signup {name} password1")),
                             ["410"])

    def test_invisible_characters_in_a_nick_are_refused(self) -> None:
        self.account("Alice")
        for name in ("Alice\u034f", "Alice\ufe0f", "Alice\u3164", "Alice\u115f", "\u3164"):
            self.assertEqual(codes(self.world.connect().send(f"/nick {name}")), ["410"])
            self.assertEqual(codes(self.world.connect().send(f"/signup {name} password1")),
                             ["410"])

    def test_invalid_name(self) -> None:
        client = self.world.connect()
        for bad in ("a:b", "-x", "x" * 33, "a\u202eb", "zero\u200bwidth"):
            self.assertEqual(codes(client.send(f"/nick {bad}")), ["410"], bad)

    def test_a_guest_changes_its_name_and_whoever_shares_a_room_sees_it(self) -> None:
        ann, bob = self.guest("ann"), self.guest("bob")
        ann.send("/join lobby")
        bob.send("/join lobby")
        ann.read()
        self.assertEqual(ann.send("/nick anna"),
                         ["114 ann is now called anna", "200 you are now called anna"])
        self.assertEqual(bob.read(), ["114 ann is now called anna"])
        self.assertEqual(bob.send("/who"), ["211-@anna bob", "211 2 members in lobby"])
        ann.send("hi")
        self.assertEqual(bob.read(), ["101 [lobby] <anna> hi"])

    def test_a_nick_in_use_or_bad_is_refused_and_accounts_keep_their_name(self) -> None:
        ann = self.guest("ann")
        self.guest("bob")
        self.assertEqual(codes(ann.send("/nick bob")), ["409"])
        self.assertEqual(codes(ann.send("/nick b\x00b")), ["410"])
        account = self.world.connect()
        account.send("/signup carol password1")
        self.assertEqual(codes(account.send("/nick caro")), ["403"])
        self.assertEqual(codes(ann.send("/nick carol")), ["409"])

    def test_guests_off(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent, guests=False)
        client = world.connect()
        self.assertEqual(codes(client.send("/nick ann")), ["434"])
        self.assertEqual(codes(client.send("/signup ann password1")), ["201"])

    def test_guest_name_frees_on_disconnect(self) -> None:
        self.guest("ann").drop()
        self.guest("ann")

    def test_guest_cannot_create_or_passwd(self) -> None:
        client = self.guest("ann")
        self.assertEqual(codes(client.send("/create club")), ["403"])
        self.assertEqual(codes(client.send("/passwd a b")), ["403"])


class Accounts(LineTestCase):
    def test_signup_then_login(self) -> None:
        self.assertEqual(
            self.world.connect().send("/signup Alice password1"),
            ["201 welcome account Alice: your account is created and you are logged in"],
        )
        self.assertEqual(self.world.connect().send("/login alice password1"),
                         ["201 welcome account Alice: welcome back"])

    def test_signup_taken(self) -> None:
        self.account("alice")
        self.assertEqual(codes(self.world.connect().send("/signup ALICE password2")), ["409"])

    def test_signup_name_of_online_guest(self) -> None:
        self.guest("ann")
        self.assertEqual(codes(self.world.connect().send("/signup ann password1")), ["409"])

    def test_weak_password(self) -> None:
        self.assertEqual(codes(self.world.connect().send("/signup ann short")), ["411"])

    def test_wrong_password_and_unknown_name_look_alike(self) -> None:
        self.account("alice")
        wrong = self.world.connect().send("/login alice nope-nope")
        unknown = self.world.connect().send("/login nobody nope-nope")
        self.assertEqual(wrong, ["430 wrong name or password"])
        self.assertEqual(unknown, wrong)

    def test_login_twice_on_one_connection(self) -> None:
        self.assertEqual(codes(self.account("alice").send("/login alice password1")), ["402"])

    def test_several_sessions_share_rooms(self) -> None:
        laptop = self.account("alice")
        phone = self.world.connect()
        self.assertEqual(codes(phone.send("/login alice password1")), ["201"])
        laptop.send("/join lobby")
        self.assertEqual(phone.read(), ["103 [lobby] alice joined (1 member)"])
        bob = self.guest("bob", "lobby")
        laptop.read(), phone.read()
        bob.send("hi")
        self.assertEqual(laptop.read(), ["101 [lobby] <bob> hi"])
        self.assertEqual(phone.read(), ["101 [lobby] <bob> hi"])
        self.assertEqual(phone.send("/join lobby"),
                         ["200 joined lobby: you are in lobby (2 members)"])
        phone.send("from the phone")
        self.assertEqual(laptop.read(), ["101 [lobby] <alice> from the phone"])
        self.assertEqual(bob.read(), ["101 [lobby] <alice> from the phone"])
        laptop.drop()
        self.assertEqual(bob.read(), [], "alice is still online on her phone")
        phone.drop()
        self.assertEqual(bob.read(), ["104 [lobby] alice lost connection"])

    def test_a_new_session_talks_in_the_accounts_room(self) -> None:
        laptop = self.account("alice")
        laptop.send("/join lobby")
        tablet = self.world.connect()
        tablet.send("/login alice password1")
        self.assertEqual(tablet.send("no /join needed"), ["101 [lobby] <alice> no /join needed"])

    def test_one_session_per_account(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      limits=Limits(seat_grace=0, max_sessions_per_account=1))
        world.connect().send("/signup alice password1")
        lines = world.connect().send("/login alice password1")
        self.assertEqual(lines, ["433 alice is already logged in elsewhere; log out there first"])

    def test_passwd(self) -> None:
        client = self.account("alice")
        self.assertEqual(codes(client.send("/passwd wrong-old newpassword")), ["430"])
        self.assertEqual(codes(client.send("/passwd password1 short")), ["411"])
        self.assertEqual(client.send("/passwd password1 newpassword"), ["200 password changed"])
        self.assertEqual(codes(self.world.connect().send("/login alice password1")), ["430"])
        self.assertEqual(codes(self.world.connect().send("/login alice newpassword")), ["201"])

    def test_server_full(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      limits=Limits(seat_grace=0, max_users=1))
        world.connect().send("/nick ann")
        self.assertEqual(codes(world.connect().send("/nick bea")), ["504"])

    def test_busy_hasher(self) -> None:
        from chatd.kernel.errors import ServerBusy

        def busy(password: str) -> None:
            raise ServerBusy("busy, retry")

        self.world.hasher.hash = busy  # type: ignore[method-assign]
        self.assertEqual(self.world.connect().send("/signup ann password1"),
                         ["503 busy, retry"])


class Pipelining(LineTestCase):
    def test_commands_wait_for_a_slow_login(self) -> None:
        self.account("alice").drop()
        self.world.hasher.hold = True
        client = self.world.connect()
        self.assertEqual(client.send("/login alice password1", "/join lobby", "hello"), [])
        self.world.hasher.release()
        self.assertEqual(client.read(), [
            "201 welcome account alice: welcome back",
            "103 [lobby] alice joined (1 member)",
            "200 joined lobby: you are in lobby (1 member)",
            "101 [lobby] <alice> hello",
        ])

    def test_reading_pauses_behind_a_long_queue(self) -> None:
        self.account("alice").drop()
        self.world.hasher.hold = True
        client = self.world.connect()
        client.send("/login alice password1", *["x"] * 40)
        self.assertEqual(client.transport.producerState, "paused")
        self.world.hasher.release()
        self.assertEqual(client.transport.producerState, "producing")
        self.assertEqual(len(client.read()), 41)

    def test_connection_lost_during_login_logs_out(self) -> None:
        self.account("alice").drop()
        self.world.hasher.hold = True
        client = self.world.connect()
        client.send("/login alice password1")
        client.drop()
        self.world.hasher.release()
        self.assertFalse(self.world.server.is_online("alice"))


class Rooms(LineTestCase):
    def test_join_creates_temporary_room_that_vanishes(self) -> None:
        ann = self.guest("ann")
        self.assertEqual(ann.send("/join #Lobby"),
                         ["103 [Lobby] ann joined (1 member)",
                          "200 joined Lobby: you are in Lobby (1 member)"])
        self.assertEqual(ann.send("/rooms"), ["210-Lobby 1/100 open temporary", "210 1 room"])
        self.assertEqual(ann.send("/leave"),
                         ["104 [Lobby] ann left", "200 left Lobby: you left Lobby"])
        self.assertEqual(ann.send("/rooms"), ["210 0 rooms"])

    def test_chat_reaches_the_room_and_nobody_else(self) -> None:
        ann, bea = self.guest("ann", "lobby"), self.guest("bea", "lobby")
        cid = self.guest("cid", "elsewhere")
        ann.read()
        self.assertEqual(ann.send("hello all"), ["101 [lobby] <ann> hello all"])
        self.assertEqual(bea.read(), ["101 [lobby] <ann> hello all"])
        self.assertEqual(cid.read(), [])
        self.assertEqual(bea.send("/me waves"), ["107 [lobby] * bea waves"])
        self.assertEqual(bea.send("//slash"), ["101 [lobby] <bea> /slash"])

    def test_chat_without_a_room(self) -> None:
        self.assertEqual(codes(self.guest("ann").send("hello")), ["406"])

    def test_join_and_leave_notices(self) -> None:
        ann = self.guest("ann", "lobby")
        bea = self.guest("bea", "lobby")
        self.assertEqual(ann.read(), ["103 [lobby] bea joined (2 members)"])
        bea.send("/leave lobby")
        self.assertEqual(ann.read(), ["104 [lobby] bea left"])
        bea.send("/join lobby")
        ann.read()
        bea.send("/quit gone fishing")
        bea.drop()
        self.assertEqual(ann.read(), ["104 [lobby] bea quit: gone fishing"])
        cid = self.guest("cid", "lobby")
        ann.read()
        cid.drop()
        self.assertEqual(ann.read(), ["104 [lobby] cid lost connection"])

    def test_idle_timeout(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      options=Options(ConnectionOptions(idle_timeout=60)))
        ann, bea = world.connect(), world.connect()
        ann.send("/nick ann", "/join lobby")
        bea.send("/nick bea", "/join lobby")
        world.clock.advance(30)
        ann.send("still here")
        world.clock.advance(31)
        self.assertEqual(bea.read()[-1], "109 idle for 60 seconds; goodbye")
        self.assertTrue(bea.transport.disconnecting)
        bea.drop()
        self.assertEqual(ann.read()[-1], "104 [lobby] bea timed out")
        self.assertFalse(ann.transport.disconnecting)

    def test_who(self) -> None:
        ann = self.guest("ann", "lobby")
        self.guest("Bea", "lobby")
        ann.read()
        self.assertEqual(ann.send("/who"), ["211-@ann Bea", "211 2 members in lobby"])
        self.assertEqual(ann.send("/who LOBBY"), ["211-@ann Bea", "211 2 members in lobby"])
        self.assertEqual(codes(ann.send("/who nowhere")), ["404"])
        self.assertEqual(codes(self.guest("cid").send("/who")), ["406"])

    def test_who_splits_long_lists(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        clients = []
        for i in range(60):
            client = world.connect()
            client.send(f"/nick member{i:02d}x{'y' * 20}", "/join big")
            clients.append(client)
        clients[0].read()
        lines = clients[0].send("/who")
        self.assertEqual(lines[-1], "211 60 members in big")
        self.assertTrue(all(len(line) < 420 for line in lines))
        self.assertEqual(sum(len(line[4:].split()) for line in lines[:-1]), 60)

    def test_leave_errors(self) -> None:
        ann = self.guest("ann")
        self.assertEqual(codes(ann.send("/leave")), ["406"])
        self.assertEqual(codes(ann.send("/leave nowhere")), ["404"])
        self.guest("bea", "lobby")
        self.assertEqual(codes(ann.send("/leave lobby")), ["406"])

    def test_current_room_follows_joins_and_leaves(self) -> None:
        ann = self.guest("ann", "one")
        ann.send("/join two")
        self.assertEqual(ann.send("x"), ["101 [two] <ann> x"])
        ann.send("/leave two")
        self.assertEqual(ann.send("y"), ["101 [one] <ann> y"])
        ann.send("/join two")
        ann.send("/join one")
        self.assertEqual(ann.send("z"), ["101 [one] <ann> z"])

    def test_msg(self) -> None:
        ann, bea = self.guest("ann"), self.guest("bea")
        self.assertEqual(ann.send("/msg BEA psst, over here"), ["200 sent to bea"])
        self.assertEqual(bea.read(), ["102 *ann* psst, over here"])
        self.assertEqual(codes(ann.send("/msg nobody hi")), ["405"])

    def test_bad_text(self) -> None:
        ann = self.guest("ann", "lobby")
        self.assertEqual(codes(ann.send("bell \x07 ring")), ["412"])
        self.assertEqual(codes(ann.send("\x1bPclear")), ["412"])  # ESC P: no key sends it
        self.assertEqual(codes(ann.send("/msg ann \x1b]0;x")), ["412"])
        self.assertEqual(ann.send("tab\there"), ["101 [lobby] <ann> tab here"])

    def test_topic_of_temporary_room(self) -> None:
        ann = self.guest("ann", "lobby")
        self.assertEqual(ann.send("/topic lobby  cats  only "),
                         ["105 [lobby] ann set the topic: cats  only", "200 topic set"])
        self.assertEqual(ann.send("/rooms")[0], "210-lobby 1/100 open temporary: cats  only")
        self.assertEqual(ann.send("/topic lobby"), ["105 [lobby] ann cleared the topic",
                                                    "200 topic cleared"])
        self.assertEqual(codes(self.guest("bea").send("/topic lobby x")), ["406"])


class OwnedRooms(LineTestCase):
    def test_create(self) -> None:
        alice = self.account("alice")
        self.assertEqual(alice.send("/create Club 2 sesame"), [
            "103 [Club] alice joined (1 member)",
            "200 created Club: created Club (limit 2, locked); you own it",
        ])
        self.assertEqual(alice.send("/rooms"),
                         ["210-Club 1/2 locked owned by alice", "210 1 room"])
        record = self.world.store.rooms["club"]
        self.assertEqual((record.owner, record.limit), ("alice", 2))
        self.assertEqual(record.password_hash, "fake$sesame", "stored as the hasher made it")

    def test_create_errors(self) -> None:
        alice = self.account("alice")
        self.guest("bea", "lobby")
        self.assertEqual(codes(alice.send("/create lobby")), ["409"])
        self.assertEqual(codes(alice.send("/create club 0")), ["400"])
        self.assertEqual(codes(alice.send("/create club many pw")), ["400"])
        self.assertEqual(codes(alice.send("/create c:b")), ["410"])
        alice.send("/create club")
        self.assertEqual(codes(alice.send("/create CLUB")), ["409"])

    def test_persistent_room_stays_when_empty(self) -> None:
        alice = self.account("alice")
        alice.send("/create club")
        alice.send("/leave")
        self.assertEqual(alice.send("/rooms"),
                         ["210-club 0/100 open owned by alice", "210 1 room"])

    def test_locked_room(self) -> None:
        self.account("alice").send("/create club 10 sesame")
        bea = self.guest("bea")
        self.assertEqual(bea.send("/join club"),
                         ["431 club is locked; /join club PASSWORD"])
        self.assertEqual(bea.send("/join club wrong"), ["431 wrong password for club"])
        self.assertEqual(codes(bea.send("/join club sesame")), ["103", "200"])

    def test_the_owner_rejoins_her_locked_room_without_its_password(self) -> None:
        # Issue 27: the owner of a locked persistent room is let in without the key, as an
        # operator; anyone else still needs it.
        alice = self.account("alice")
        alice.send("/create club 10 sesame", "/leave club")
        self.assertEqual(codes(alice.send("/join club")), ["103", "200"])
        bea = self.guest("bea")
        self.assertEqual(bea.send("/join club"), ["431 club is locked; /join club PASSWORD"])
        self.assertEqual(codes(bea.send("/join club sesame")), ["103", "200"])

    def test_room_full(self) -> None:
        self.account("alice").send("/create duo 2")
        self.guest("bea").send("/join duo")
        self.assertEqual(self.guest("cid").send("/join duo"),
                         ["432 duo is full (limit 2); try later"])

    def test_temporary_room_limit(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      limits=Limits(seat_grace=0, default_room_limit=1))
        world.connect().send("/nick ann", "/join lobby")
        self.assertEqual(codes(world.connect().send("/nick bea", "/join lobby")),
                         ["201", "432"])

    def test_owner_operations(self) -> None:
        alice = self.account("alice")
        alice.send("/create club")
        bea = self.guest("bea", "club")
        alice.read()
        self.assertEqual(alice.send("/topic club welcome"),
                         ["105 [club] alice set the topic: welcome", "200 topic set"])
        self.assertEqual(bea.read(), ["105 [club] alice set the topic: welcome"])
        self.assertEqual(alice.send("/limit club 5"),
                         ["106 [club] alice: member limit is now 5", "200 member limit set to 5"])
        self.assertEqual(alice.send("/lock club pw"),
                         ["106 [club] alice: locked with a password", "200 room locked"])
        self.assertEqual(alice.send("/unlock club"),
                         ["106 [club] alice: unlocked", "200 room unlocked"])
        self.assertEqual(self.world.store.rooms["club"].topic, "welcome")
        self.assertEqual(self.world.store.rooms["club"].limit, 5)
        bea.read()
        for line in ("/topic club x", "/limit club 3", "/lock club pw", "/unlock club",
                     "/delete club"):
            self.assertEqual(codes(bea.send(line)), ["403"], line)
        self.assertEqual(alice.send("/delete club"), [
            "104 [club] alice was removed: the room was deleted",
            "200 room deleted",
        ])
        self.assertEqual(bea.read(), [
            "104 [club] alice was removed: the room was deleted",
            "104 [club] bea was removed: the room was deleted",
        ])
        self.assertNotIn("club", self.world.store.rooms)
        self.assertEqual(codes(bea.send("hello")), ["406"])

    def test_failed_write_changes_nothing(self) -> None:
        from twisted.internet.defer import fail

        from chatd.kernel.errors import StorageFailed

        alice = self.account("alice")
        alice.send("/create club 5")
        bea = self.guest("bea", "club")
        alice.read()
        self.world.store.save = lambda record: fail(StorageFailed("disk on fire"))  # type: ignore[method-assign]
        self.world.store.delete = lambda key: fail(StorageFailed("disk on fire"))  # type: ignore[method-assign]
        self.assertEqual(alice.send("/limit club 9"), ["501 disk on fire"])
        self.assertEqual(alice.send("/topic club hi"), ["501 disk on fire"])
        self.assertEqual(alice.send("/delete club"), ["501 disk on fire"])
        self.assertEqual(bea.read(), [], "nobody was told of a change that did not happen")
        self.assertEqual(alice.send("/rooms")[0], "210-club 2/5 open owned by alice")

    def test_changes_apply_in_order(self) -> None:
        alice = self.account("alice")
        alice.send("/create club 5")
        self.world.hasher.hold = True
        alice.protocol.dataReceived(b"/lock club sesame\n")
        other = self.world.connect()
        other.send("/login alice password1")  # held too: the hasher answers in order
        self.world.hasher.release()
        self.world.hasher.hold = False
        other.read()
        other.send("/limit club 7")
        record = self.world.store.rooms["club"]
        self.assertEqual((record.limit, record.password_hash), (7, "fake$sesame"))

    def test_who_of_a_locked_room_is_for_members(self) -> None:
        alice = self.account("alice")
        alice.send("/create club 5 sesame")
        bea = self.guest("bea")
        self.assertEqual(codes(bea.send("/who club")), ["403"])
        self.assertEqual(alice.send("/who club"), ["211-@alice", "211 1 member in club"])

    def test_only_ascii_spaces_separate_arguments(self) -> None:
        alice = self.account("alice")
        alice.send("/create lockd 5 sekrit")
        bea = self.guest("bea")
        # NBSP, VT, FF, NEL and U+2028 are not separators: the room name is refused whole.
        for space in ("\u00a0", "\x0b", "\x0c", "\x85", "\u2028"):
            self.assertEqual(codes(bea.send(f"/join lockd{space}sekrit")), ["410"])
        self.assertNotIn("bea", [user.name for user in self.world.server.rooms["lockd"]
                                 .members.values()])
        self.assertEqual(codes(bea.send("/join  lockd   sekrit ")), ["103", "200"])

    def test_room_passwords_are_one_printable_word(self) -> None:
        alice = self.account("alice")
        self.assertEqual(codes(alice.send("/create r1 5 pass\u00a0word")), ["400"])
        alice.send("/create r2 5")
        self.assertEqual(codes(alice.send("/lock r2 pass\u2028word")), ["400"])

    def test_too_many_rooms_is_not_allowed(self) -> None:
        self.world.server.limits = Limits(seat_grace=0, messages_burst=1_000_000,
                                          max_rooms_per_user=1)
        bea = self.guest("bea", "a")
        self.assertEqual(codes(bea.send("/join b")), ["403"])

    def test_a_temporary_room_is_set_by_its_operators_only(self) -> None:
        alice = self.account("alice")
        alice.send("/join lobby")
        bea = self.guest("bea")
        bea.send("/join lobby")
        self.assertEqual(codes(bea.send("/limit lobby 3")), ["403"])
        alice.read()
        self.assertEqual(codes(alice.send("/limit lobby 3")), ["106", "200"])
        self.assertEqual(codes(alice.send("/delete lobby")), ["403"])
        self.assertEqual(codes(alice.send("/delete nowhere")), ["404"])

    def test_join_while_room_is_being_created(self) -> None:
        alice = self.account("alice")
        self.world.hasher.hold = True
        alice.send("/create club 5 sesame")
        self.assertEqual(codes(self.guest("bea").send("/join club")), ["404"])
        self.world.hasher.release()
        self.assertEqual(codes(alice.read()), ["103", "200"])


class Output(LineTestCase):
    def test_one_write_per_turn(self) -> None:
        ann = self.guest("ann", "lobby")
        bea = self.guest("bea", "lobby")
        ann.read()
        writes: list[bytes] = []
        real = bea.transport.write
        bea.transport.write = lambda data: (writes.append(data), real(data))  # type: ignore[method-assign]
        ann.protocol.dataReceived(b"one\ntwo\nthree\n")
        self.assertEqual(writes, [], "nothing is written before the end of the turn")
        self.assertEqual(bea.read(), ["101 [lobby] <ann> one", "101 [lobby] <ann> two",
                                      "101 [lobby] <ann> three"])
        self.assertEqual(len(writes), 1)

    def test_slow_reader_is_dropped_and_others_unaffected(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      options=Options(ConnectionOptions(max_output=4096)))
        ann, bea, cid = world.connect(), world.connect(), world.connect()
        for client, name in ((ann, "ann"), (bea, "bea"), (cid, "cid")):
            client.send(f"/nick {name}", "/join lobby")
        bea.read(), cid.read()
        bea.protocol.outbox.pauseProducing()  # what the transport does when bea stops reading
        for i in range(60):
            ann.send(f"message number {i:03d} " + "x" * 40)
            self.assertLessEqual(bea.protocol.outbox.queued, 4096 + 100)
        self.assertTrue(bea.transport.disconnecting, "bea was dropped")
        bea.drop()
        lines = cid.read()
        self.assertEqual(len([line for line in lines if line.startswith("101 ")]), 60)
        self.assertIn("104 [lobby] bea was dropped: not reading", lines)

    def test_paused_reader_catches_up_in_order(self) -> None:
        ann = self.guest("ann", "lobby")
        bea = self.guest("bea", "lobby")
        ann.read()
        bea.protocol.outbox.pauseProducing()
        for i in range(5):
            ann.send(f"m{i}")
        self.assertEqual(bea.read(), [])
        bea.protocol.outbox.resumeProducing()
        self.assertEqual(bea.read(), [f"101 [lobby] <ann> m{i}" for i in range(5)])


class Framing(LineTestCase):
    def test_lf_and_crlf(self) -> None:
        ann = self.guest("ann", "lobby")
        self.assertEqual(ann.send_bytes(b"one\ntwo\r\nthr"), ["101 [lobby] <ann> one",
                                                             "101 [lobby] <ann> two"])
        self.assertEqual(ann.send_bytes(b"ee\n"), ["101 [lobby] <ann> three"])

    def test_over_long_line_is_refused_and_its_tail_ignored(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      options=Options(ConnectionOptions(max_line=64)))
        ann = world.connect()
        ann.send("/nick ann", "/join lobby")
        lines = ann.send_bytes(b"x" * 100)
        self.assertEqual(codes(lines), ["413"])
        self.assertEqual(ann.send_bytes(b"x" * 100 + b"/quit\n"), [])
        self.assertEqual(ann.send("still here"), ["101 [lobby] <ann> still here"])
        self.assertEqual(codes(ann.send("y" * 65)), ["413"])

    def test_invalid_utf8(self) -> None:
        ann = self.guest("ann", "lobby")
        self.assertEqual(codes(ann.send_bytes(b"caf\xe9\r\n")), ["414"])
        self.assertEqual(ann.send_bytes("café\r\n".encode()), ["101 [lobby] <ann> café"])

    def test_utf8_split_across_reads(self) -> None:
        ann = self.guest("ann", "lobby")
        data = "é\n".encode()
        self.assertEqual(ann.send_bytes(data[:1]), [])
        self.assertEqual(ann.send_bytes(data[1:]), ["101 [lobby] <ann> é"])


class Throttling(LineTestCase):
    def test_failed_logins_are_throttled_per_account(self) -> None:
        self.account("alice").drop()
        client = self.world.connect()
        for _ in range(5):
            self.assertEqual(codes(client.send("/login alice wrong-pass")), ["430"])
        lines = client.send("/login alice password1")
        self.assertEqual(lines, ["429 too many failed logins; try again in 60 seconds"])
        self.world.clock.advance(60)
        self.assertEqual(codes(self.world.connect().send("/login alice password1")), ["201"])

    def test_failed_logins_are_throttled_per_address(self) -> None:
        self.account("zed").drop()
        client = self.world.connect()
        for i in range(10):
            self.assertEqual(codes(client.send(f"/login user{i} wrong-pass")), ["430"])
        self.assertEqual(codes(client.send("/login zed password1")), ["429"])
        self.world.clock.advance(30)
        self.assertEqual(codes(self.world.connect().send("/login zed password1")), ["201"])

    def test_locked_account(self) -> None:
        self.account("alice").drop()
        self.world.directory.set_locked("alice", True)
        self.assertEqual(codes(self.world.connect().send("/login alice wrong-pass")), ["430"])
        self.assertEqual(self.world.connect().send("/login alice password1"),
                         ["435 the account alice is locked; ask an operator"])
        self.world.directory.set_locked("alice", False)
        self.assertEqual(codes(self.world.connect().send("/login alice password1")), ["201"])


class HalfClose(LineTestCase):
    def test_input_closed_early_still_gets_every_reply(self) -> None:
        self.account("alice").drop()
        self.world.hasher.hold = True
        client = self.world.connect()
        client.protocol.dataReceived(b"/login alice password1\n/join lobby\nhi\n")
        client.protocol.readConnectionLost()
        self.assertFalse(client.transport.disconnecting, "replies are still owed")
        self.world.hasher.release()
        self.assertEqual(client.read(), [
            "201 welcome account alice: welcome back",
            "103 [lobby] alice joined (1 member)",
            "200 joined lobby: you are in lobby (1 member)",
            "101 [lobby] <alice> hi",
        ])
        self.assertTrue(client.transport.disconnecting)


class Shutdown(LineTestCase):
    def test_everyone_is_told_and_closed(self) -> None:
        ann = self.guest("ann", "lobby")
        anonymous = self.world.connect()
        done = self.world.factory.connections.shutdown("the server is shutting down")
        for client in (ann, anonymous):
            self.assertEqual(client.read()[-1], "109 the server is shutting down")
            self.assertTrue(client.transport.disconnecting)
        self.assertNoResult(done)
        ann.drop()
        anonymous.drop()
        self.successResultOf(done)

    def test_gives_up_waiting_after_the_grace(self) -> None:
        self.guest("ann")
        done = self.world.factory.connections.shutdown("bye", grace=3)
        self.world.clock.advance(3)
        self.successResultOf(done)


class LookAlikes(LineTestCase):
    def test_guest_cannot_take_a_look_alike_of_an_account(self) -> None:
        self.account("paypal").drop()
        lines = self.world.connect().send("/nick pаypal")  # Cyrillic а
        self.assertEqual(codes(lines), ["409"])
        self.assertEqual(codes(self.world.connect().send("/signup PAYPA1 password1")), ["409"])


class FanOut(LineTestCase):
    def test_room_message_is_rendered_once_and_skips_irc_senders_only(self) -> None:
        from chatd.kernel.events import Said


        ann, bea = self.guest("ann", "lobby"), self.guest("bea", "lobby")
        spy_session, spy = self.world.spy("spy")
        spy_session.join("lobby")
        ann.read(), bea.read()
        renders: list[object] = []
        real = Said.encoded

        def counting(event: Said, render: object) -> bytes:
            renders.append(render)
            return real(event, render)  # type: ignore[arg-type]

        Said.encoded = counting  # type: ignore[method-assign]
        self.addCleanup(setattr, Said, "encoded", real)
        ann.send("hello")
        self.assertEqual(len(renders), 1, "one render for both line sessions")
        self.assertEqual(bea.read(), ["101 [lobby] <ann> hello"])
        self.assertEqual([type(e).__name__ for e in spy.events][-1], "Said",
                         "a mind without a wire format gets the event itself")

    def test_membership_changes_rebuild_the_targets(self) -> None:
        ann = self.guest("ann", "lobby")
        ann.read()
        ann.send("one")
        bea = self.guest("bea", "lobby")
        ann.read()
        ann.send("two")
        self.assertEqual(bea.read(), ["101 [lobby] <ann> two"])
        bea.send("/leave")
        ann.read()
        ann.send("three")
        self.assertEqual(bea.read(), [])


class EndedSessions(LineTestCase):
    def test_a_deleted_accounts_connections_are_told_why_and_closed(self) -> None:
        laptop = self.account("alice")
        laptop.send("/join lobby")
        phone = self.world.connect()
        phone.send("/login alice password1")
        bob = self.guest("bob", "lobby")
        laptop.read()
        self.successResultOf(self.world.directory.delete("alice"))
        for client in (laptop, phone):
            self.assertEqual(client.read()[-1], "109 account deleted by an operator")
            self.assertTrue(client.transport.disconnecting)
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: account deleted by an operator"])
        laptop.drop()
        phone.drop()
        self.assertEqual(bob.read(), [], "the rooms were told once")

    def test_a_locked_accounts_connection_is_told_why_and_closed(self) -> None:
        alice = self.account("alice")
        self.world.directory.set_locked("alice", True)
        self.assertEqual(alice.read(), ["109 account locked by an operator"])
        self.assertTrue(alice.transport.disconnecting)


class WhatANewcomerTypes(LineTestCase):
    def test_a_command_after_leading_spaces_is_a_command_not_text(self) -> None:
        ann = self.guest("ann", "lobby")
        bob = self.guest("bob", "lobby")
        ann.read()
        self.assertEqual(ann.send(" /msg bob secret"), ["200 sent to bob"])
        self.assertEqual(ann.send("\t /me waves"), ["107 [lobby] * ann waves"])
        self.assertEqual(bob.read(), ["102 *ann* secret", "107 [lobby] * ann waves"])

    def test_a_second_session_talks_in_the_room_the_first_joined(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent,
                      limits=Limits(seat_grace=0, max_sessions_per_account=2, messages_burst=100))
        first, second = world.connect(), world.connect()
        first.send("/signup gina password1")
        second.send("/login gina password1")
        first.send("/join lobby")
        self.assertEqual(second.read(), ["103 [lobby] gina joined (1 member)"])
        self.assertEqual(second.send("hi"), ["101 [lobby] <gina> hi"])
        self.assertEqual(first.read(), ["101 [lobby] <gina> hi"])

    def test_a_new_session_is_told_the_rooms_it_is_in(self) -> None:
        laptop = self.account("alice")
        laptop.send("/join lobby", "/topic lobby tea at four", "/join den")
        self.assertEqual(self.world.connect().send("/login alice password1"), [
            "108 [lobby] current: you are in lobby (1 member); you talk here; topic: tea at four",
            "108 [den] member: you are in den (1 member)",
            "201 welcome account alice: welcome back",
        ])

    def test_signup_of_a_name_online_says_it_is_registered(self) -> None:
        self.account("alice")
        self.assertEqual(self.world.connect().send("/signup alice other-pw1"),
                         ["409 the name alice is registered already; /login or pick another"])

    def test_nick_of_an_account_online_gives_the_login_hint(self) -> None:
        self.account("alice")
        self.assertEqual(self.world.connect().send("/nick alice"), [
            "409 alice is, or looks like, the registered name alice; /login alice PASSWORD, "
            "or pick another"])

    def test_a_guest_online_is_still_in_use(self) -> None:
        self.guest("gus")
        self.assertEqual(codes(self.world.connect().send("/signup gus password1")), ["409"])
        self.assertIn("in use", self.world.connect().send("/nick GUS")[0])

    def test_create_with_a_password_and_no_limit(self) -> None:
        alice = self.account("alice")
        self.assertEqual(alice.send("/create den2 opensesame")[-1:],
                         ["200 created den2: created den2 (limit 100, locked); you own it"])
        self.assertEqual(codes(alice.send("/create den3 12x"))[-1:], ["200"])
        self.assertEqual(codes(alice.send("/create den4 12x pw")), ["400"])

    def test_passwd_with_a_wrong_old_password_says_so(self) -> None:
        alice = self.account("alice")
        self.assertEqual(alice.send("/passwd nope newpass123"),
                         ["430 that is not your current password; nothing changed"])

    def test_clearing_a_topic_that_is_not_set_changes_nothing(self) -> None:
        ann = self.guest("ann", "lobby")
        bob = self.guest("bob", "lobby")
        ann.read()
        self.assertEqual(ann.send("/topic lobby"),
                         ["200 lobby has no topic; /topic lobby TEXT sets one"])
        self.assertEqual(bob.read(), [])
        ann.send("/topic lobby hello")
        self.assertEqual(ann.send("/topic lobby"),
                         ["105 [lobby] ann cleared the topic", "200 topic cleared"])

    def test_whowas_lists_who_left_newest_first(self) -> None:
        ann = self.guest("ann")
        self.assertEqual(ann.send("/whowas bob"),
                         ["405 nobody called bob was online lately"])
        self.guest("bob").drop()
        self.world.clock.advance(60)
        self.account("bob").drop()
        lines = ann.send("/whowas bob")
        self.assertEqual(lines[-1], "215 2 departures of bob")
        self.assertTrue(lines[0].startswith("215-bob was an account, online from "), lines)
        self.assertTrue(lines[1].startswith("215-bob was a guest, online from "), lines)
        self.assertEqual(ann.send("/whowas bob 1")[-1], "215 1 departure of bob")
        self.assertEqual(codes(ann.send("/whowas bob many")), ["400"])

    def test_away_is_seen_by_msg_whois_and_irc(self) -> None:
        alice = self.account("alice")
        alice.send("/join lobby")
        bob = self.guest("bob")
        self.assertEqual(alice.send("/away at lunch"), ["200 you are away: at lunch"])
        self.assertEqual(bob.send("/msg alice hi"), ["200 sent to alice (away: at lunch)"])
        self.assertEqual(bob.send("/whois alice"),
                         ["212 alice is an account, 1 session; in lobby; away: at lunch"])
        self.assertEqual(self.world.server.users["alice"].away, "at lunch")
        self.assertEqual(alice.send("/away")[-1], "200 you are back")
        self.assertEqual(bob.send("/msg alice hi")[-1], "200 sent to alice")
        self.assertEqual(alice.send("/whois bob")[-1], "212 bob is a guest")
        self.assertEqual(codes(alice.send("/away bell \x07")), ["412"])
