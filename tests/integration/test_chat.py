"""Chatting with the real daemon over loopback, as telnet users do.

One daemon serves the whole class; each test uses its own names and rooms so the tests
don't depend on each other's order.
"""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import pytest

from tests.integration.harness import Daemon, LineClient, account, guest, joined

pytestmark = pytest.mark.daemon

PASSWORD = "correct-horse"


class ChatTests(unittest.TestCase):
    daemon: Daemon

    @classmethod
    def setUpClass(cls) -> None:
        cls._data = tempfile.TemporaryDirectory(prefix="chatd-it-data-")
        cls.daemon = Daemon(Path(cls._data.name) / "data").start()

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            cls.daemon.stop()
        finally:
            cls.daemon.cleanup()
            cls._data.cleanup()

    def setUp(self) -> None:
        self.clients: list[LineClient] = []

    def tearDown(self) -> None:
        for client in self.clients:
            client.close()
        self.assertEqual(self.daemon.problems(), [], self.daemon.run_log())

    def track(self, client: LineClient) -> LineClient:
        self.clients.append(client)
        return client

    def connect(self) -> LineClient:
        return self.track(self.daemon.connect())

    def guest(self, name: str) -> LineClient:
        return self.track(guest(self.daemon, name))

    def signup(self, name: str, password: str = PASSWORD) -> LineClient:
        return self.track(account(self.daemon, "signup", name, password))

    def login(self, name: str, password: str = PASSWORD) -> LineClient:
        return self.track(account(self.daemon, "login", name, password))

    def join(self, client: LineClient, room: str, *others: LineClient) -> None:
        """``client`` joins ``room``; wait until it and ``others`` (members) see it."""
        client.ok(f"/join {room}")
        nick = client.name
        client.wait_event(joined(room, nick))
        for other in others:
            other.wait_event(joined(room, nick))

    # -- greeting, help, names --------------------------------------------------------------

    def test_greeting_and_help(self) -> None:
        client = self.connect()
        assert client.greeting is not None
        self.assertEqual(client.greeting.code, 220)
        self.assertTrue(client.greeting.final)
        self.assertIn("/nick", client.greeting.text)
        answer = client.command("/help")
        self.assertEqual(answer.code, 214)
        self.assertEqual(answer.text, "end of help")
        usages = [line.split()[0] for line in answer.lines]
        for verb in ("/help", "/signup", "/login", "/nick", "/rooms", "/join", "/leave",
                     "/who", "/msg", "/me", "/create", "/topic", "/limit", "/lock",
                     "/unlock", "/delete", "/passwd", "/quit"):
            self.assertIn(verb, usages)
        # Commands are case-insensitive, and unknown ones say what to do.
        self.assertEqual(client.command("/HELP").code, 214)
        unknown = client.command("/frobnicate")
        self.assertEqual(unknown.code, 400)
        self.assertIn("/help", unknown.text)

    def test_must_be_named_to_chat(self) -> None:
        client = self.connect()
        self.assertEqual(client.command("/join lobby").code, 401)
        client.send("hello?")
        self.assertEqual(client.read_reply().code, 401)

    def test_guest_nick_and_name_taken(self) -> None:
        first = self.guest("Dana")
        self.assertEqual(first.command("/nick Other").code, 200)  # a guest renames
        self.assertEqual(first.command("/nick Dana").code, 200)
        second = self.connect()
        taken = second.command("/nick dana")
        self.assertEqual(taken.code, 409, taken)
        # Full-width letters fold to the same name.
        self.assertEqual(second.command("/nick \uff24\uff21\uff2e\uff21").code, 409)
        self.assertEqual(second.command("/nick bad name!").code, 400)
        self.assertEqual(second.command("/nick bad!").code, 410)
        self.assertEqual(second.command("/nick Dana2").code, 201)

    def test_registered_name_refused_to_guest(self) -> None:
        owner = self.signup("Erin")
        owner.ok("/quit", 221)
        other = self.connect()
        refused = other.command("/nick erin")
        self.assertEqual(refused.code, 409)
        self.assertIn("registered", refused.text)
        # Signing up a taken account name is refused too.
        self.assertEqual(other.command(f"/signup ERIN {PASSWORD}").code, 409)
        # And so is signing up the name a guest is using right now.
        self.guest("Jay")
        self.assertEqual(other.command(f"/signup jay {PASSWORD}").code, 409)

    def test_signup_then_login_elsewhere(self) -> None:
        client = self.connect()
        welcome = client.command(f"/signup Frank {PASSWORD}")
        self.assertEqual(welcome.code, 201, welcome)
        self.assertIn("Frank", welcome.text)
        self.assertEqual(client.command(f"/login Frank {PASSWORD}").code, 402)
        again = self.connect()
        self.assertEqual(again.command("/login frank wrong-password").code, 430)
        self.assertEqual(again.command(f"/login nobody-here {PASSWORD}").code, 430)
        back = again.command(f"/login frank {PASSWORD}")
        self.assertEqual(back.code, 201, back)
        self.assertIn("Frank", back.text)

    def test_pasted_commands_run_in_order(self) -> None:
        client = self.connect()
        client.send_raw(f"/signup Ivy {PASSWORD}\r\n/join paste\r\nhi all\r\n/who\r\n".encode())
        self.assertEqual(client.read_reply().code, 201)
        self.assertEqual(client.read_reply().text, "joined paste: you are in paste (1 member)")
        who = client.read_reply()
        self.assertEqual((who.code, who.lines), (211, ("@Ivy",)))
        self.assertEqual([str(e) for e in client.events],
                         ["103 [paste] Ivy joined (1 member)", "101 [paste] <Ivy> hi all"])

    def test_short_password_refused(self) -> None:
        client = self.connect()
        self.assertEqual(client.command("/signup Gail short").code, 411)
        self.assertEqual(client.command("/signup Gail").code, 400)

    def test_two_sessions_of_one_account_by_default(self) -> None:
        self.signup("Hank")
        laptop = self.login("hank")
        laptop.name = "Hank"
        laptop.ok("/join twodev")
        laptop.wait_event(joined("twodev", "Hank"))
        friend = self.guest("HankFriend")
        self.join(friend, "twodev", laptop)
        friend.send("hi both")
        laptop.wait_event("101 [twodev] <HankFriend> hi both")

    # -- rooms and talking ------------------------------------------------------------------

    def named(self, name: str) -> LineClient:
        return self.guest(name)

    def test_chat_in_a_room_not_heard_elsewhere(self) -> None:
        alice, bob, carl = self.named("Ann"), self.named("Ben"), self.named("Cy")
        self.join(alice, "garden")
        self.join(bob, "garden", alice)
        self.join(carl, "kitchen")
        alice.send("hello garden")
        alice.wait_event("101 [garden] <Ann> hello garden")
        bob.wait_event("101 [garden] <Ann> hello garden")
        bob.send("//slash text")
        alice.wait_event("101 [garden] <Ben> /slash text")
        bob.send("/me waves")
        alice.wait_event("107 [garden] * Ben waves")
        carl.send("only kitchen")
        carl.wait_event("101 [kitchen] <Cy> only kitchen")
        carl.sync()
        alice.sync()
        bob.sync()
        self.assertEqual([str(e) for e in carl.events], [])
        self.assertFalse(any("kitchen" in e.text for e in alice.events + bob.events))
        who = alice.ok("/who garden", 211)
        self.assertEqual(who.lines, ("@Ann Ben",))  # who opened the room runs it
        self.assertEqual(who.text, "2 members in garden")

    def test_join_and_leave_notices(self) -> None:
        stay = self.named("Stay")
        self.join(stay, "porch")
        leaver, quitter, dropper = self.named("Lea"), self.named("Quin"), self.named("Drop")
        for client in (leaver, quitter, dropper):
            self.join(client, "porch", stay)
        left = leaver.ok("/leave")
        self.assertEqual(left.text, "left porch: you left porch")
        stay.wait_event("104 [porch] Lea left")
        self.assertEqual(quitter.command("/quit see you later").code, 221)
        quitter.wait_closed()
        stay.wait_event("104 [porch] Quin quit: see you later")
        dropper.close()
        stay.wait_event("104 [porch] Drop lost connection")
        who = stay.ok("/who", 211)
        self.assertEqual(who.lines, ("@Stay",))

    def test_quit_with_unsendable_message_still_quits(self) -> None:
        stay, leaver = self.named("Kept"), self.named("Bell")
        stay.ok("/join #belfry")  # IRC spelling of the room "belfry"
        stay.wait_event(joined("belfry", "Kept"))
        self.join(leaver, "belfry", stay)
        leaver.send("/quit ring \x07 ring")
        self.assertEqual(leaver.read_reply().code, 221)
        leaver.wait_closed()
        stay.wait_event("104 [belfry] Bell quit")

    def test_private_message(self) -> None:
        sender, receiver, bystander = self.named("Pia"), self.named("Ray"), self.named("Sol")
        self.join(sender, "hall")
        self.join(receiver, "hall", sender)
        self.join(bystander, "hall", sender, receiver)
        sent = sender.ok("/msg ray psst, over here")
        self.assertEqual(sent.text, "sent to Ray")
        receiver.wait_event("102 *Pia* psst, over here")
        bystander.sync()
        self.assertFalse(any(e.code == 102 for e in bystander.events))
        self.assertEqual(sender.command("/msg nobody-online hi").code, 405)

    def test_topic_of_a_temporary_room(self) -> None:
        first, second = self.named("Tom"), self.named("Uma")
        self.join(first, "attic")
        self.join(second, "attic", first)
        self.assertEqual(first.ok("/topic attic Spiders  and dust").text, "topic set")
        second.wait_event("105 [attic] Tom set the topic: Spiders  and dust")
        listing = second.ok("/rooms", 210)
        self.assertIn("attic 2/100 open temporary: Spiders  and dust", listing.lines)
        self.assertEqual(second.ok("/topic attic").text, "topic cleared")
        first.wait_event("105 [attic] Uma cleared the topic")
        outsider = self.named("Val")
        self.assertEqual(outsider.command("/topic attic mine now").code, 406)

    def test_room_full(self) -> None:
        owner = self.signup("Wes")
        created = owner.ok("/create solo 1")
        self.assertIn("limit 1", created.text)
        owner.wait_event(joined("solo", "Wes"))
        other = self.named("Xia")
        full = other.command("/join solo")
        self.assertEqual(full.code, 432, full)
        owner.ok("/leave solo")
        self.assertEqual(other.command("/join solo").code, 200)

    def test_locked_room(self) -> None:
        owner = self.signup("Yves")
        created = owner.ok("/create vault 5 s3same")
        self.assertIn("locked", created.text)
        visitor = self.named("Zed")
        self.assertEqual(visitor.command("/join vault").code, 431)
        self.assertEqual(visitor.command("/join vault wrong").code, 431)
        self.assertEqual(visitor.command("/join vault s3same").code, 200)
        owner.wait_event(joined("vault", "Zed"))
        owner.ok("/unlock vault")
        visitor.wait_event("106 [vault] Yves: unlocked")
        self.assertEqual(self.named("Zora").command("/join vault").code, 200)
        owner.ok("/lock vault n3wpass")
        visitor.wait_event("106 [vault] Yves: locked with a password")
        self.assertEqual(self.named("Zack").command("/join vault s3same").code, 431)

    def test_rooms_listing(self) -> None:
        owner = self.signup("Omar")
        owner.ok("/create Listed 7 hunter22")
        owner.ok("/topic listed Plans for the week")
        owner.ok("/create Plain")
        visitor = self.named("Gus")
        self.join(visitor, "Scratch")
        listing = visitor.ok("/rooms", 210)
        self.assertIn("Listed 1/7 locked owned by Omar: Plans for the week", listing.lines)
        self.assertIn("Plain 1/100 open owned by Omar", listing.lines)
        self.assertIn("Scratch 1/100 open temporary", listing.lines)
        count = int(listing.text.split()[0])
        self.assertEqual(count, len(listing.lines))
        self.assertTrue(listing.text.endswith("rooms"))

    def test_owner_only_operations_refused(self) -> None:
        owner = self.signup("Opal")
        owner.ok("/create mine 4")
        stranger = self.signup("Stan")
        visitor = self.named("Vic")
        for client in (stranger, visitor):
            for line in ("/topic mine taken over", "/limit mine 50", "/lock mine pass1234",
                         "/unlock mine", "/delete mine"):
                answer = client.command(line)
                self.assertEqual(answer.code, 403, f"{line}: {answer}")
        self.assertEqual(visitor.command("/create guestroom").code, 403)
        listing = owner.ok("/rooms", 210)
        self.assertIn("mine 1/4 open owned by Opal", listing.lines)
        # The owner can.
        owner.ok("/limit mine 6")
        owner.ok("/topic mine ours")
        self.assertEqual(stranger.command("/join mine").code, 200)
        owner.ok("/delete mine")
        stranger.wait_event("104 [mine] Stan was removed: the room was deleted")
        self.assertEqual(stranger.command("/who mine").code, 404)

    # -- framing ----------------------------------------------------------------------------

    def test_over_long_line(self) -> None:
        client = self.named("Long")
        self.join(client, "longroom")
        # Default max-line is 2048. The over-long line arrives in two writes, its tail
        # looking like a command: the tail must be thrown away with the rest.
        client.send_raw(b"x" * 3000)
        time.sleep(0.2)
        client.send_raw(b"/leave longroom\r\n")
        answer = client.read_reply()
        self.assertEqual(answer.code, 413, answer)
        # One line, one error; the tail ran nothing.
        who = client.ok("/who", 211)
        self.assertEqual(who.lines, ("@Long",))
        self.assertEqual(client.events, [])
        # Exactly at the limit is fine.
        client.send("y" * 1000)
        client.wait_event("101 [longroom] <Long> " + "y" * 1000)
        client.send_raw(b"z" * 2048 + b"\r\n")
        self.assertEqual(client.read_reply().code, 412)  # 1024-character message limit
        # An over-long line in one write.
        client.send_raw(b"w" * 5000 + b"\r\n/who\r\n")
        self.assertEqual(client.read_reply().code, 413)
        self.assertEqual(client.read_reply().code, 211)

    def test_invalid_utf8(self) -> None:
        client = self.named("Bytes")
        self.join(client, "byteroom")
        client.send_raw(b"caf\xc3 \xfe\r\n")  # 0xFF would be telnet's IAC
        self.assertEqual(client.read_reply().code, 414)
        client.send("café ok")
        client.wait_event("101 [byteroom] <Bytes> café ok")
        client.send("bell \x07 here")
        self.assertEqual(client.read_reply().code, 412)
        self.assertEqual(client.command("/who").code, 211)

    # -- telnet ---------------------------------------------------------------------------

    def test_ctrl_c_from_telnet_is_answered_and_the_session_goes_on(self) -> None:
        client = self.guest("tilly")
        client.send_raw(b"/join half-typed\xff\xf4\xff\xfd\x06")  # typed, then Ctrl-C
        answer = b""
        deadline = time.monotonic() + 10
        while b"\xff\xfc\x06" not in answer and time.monotonic() < deadline:
            answer += client.sock.recv(64)
        self.assertEqual(answer, b"\xff\xfc\x06")  # IAC WONT TIMING-MARK: telnet resumes
        self.assertEqual(client.command("/rooms").code, 210)
        self.assertFalse(any("half-typed" in str(line) for line in client.events))


if __name__ == "__main__":
    unittest.main()
