"""What the client keeps track of: its rooms and current room, who to log in as again, which
characters of a typed line are a password, and what the prompt says."""

from __future__ import annotations

from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.layout.controls import BufferControl
from prompt_toolkit.layout.processors import TransformationInput
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.frontends.codes import ServerLine, parse_server_line
from chatd_client.client import Client
from chatd_client.commands import secret_spans
from chatd_client.memory import Identity, Memory
from chatd_client.options import ClientOptions
from chatd_client.rooms import Rooms, room_key
from chatd_client.terminal import MaskPasswords, prompt_fragments
from chatd_client.transcript import Transcript

from tests.test_client_session import FakeEndpoint, RecordingDisplay


def line(raw: str) -> ServerLine:
    parsed = parse_server_line(raw)
    assert parsed is not None, raw
    return parsed


class RoomsTests(TestCase):
    def rooms(self, *raw: str, nick: str = "pat") -> Rooms:
        rooms = Rooms()
        for text in raw:
            rooms.follow(line(text), nick)
        return rooms

    def test_the_room_joined_last_is_current(self) -> None:
        rooms = self.rooms("103 [den] pat joined", "200 joined den: you are in den (1 member)",
                           "103 [lobby] pat joined",
                           "200 joined lobby: you are in lobby (2 members)")
        self.assertEqual((rooms.names(), rooms.current), (["den", "lobby"], "lobby"))
        rooms.follow(line("200 joined den: you are in den (1 member); topic: tea"), "pat")
        self.assertEqual((rooms.names(), rooms.current), (["den", "lobby"], "den"))
        self.assertEqual(rooms.rejoin_order(), ["lobby", "den"])

    def test_the_rooms_a_new_session_is_told_of_are_followed(self) -> None:
        rooms = self.rooms("108 [lobby] member: you are in lobby (2 members); topic: tea",
                           "108 [den] current: you are in den (1 member); you talk here", nick="")
        self.assertEqual((rooms.names(), rooms.current), (["lobby", "den"], "den"))

    def test_a_created_room_is_current(self) -> None:
        rooms = self.rooms("103 [Den] pat joined",
                           "200 created Den: created Den (limit 10, locked); you own it")
        self.assertEqual(rooms.current, "Den")

    def test_leaving_the_current_room_falls_back_to_the_oldest_one(self) -> None:
        rooms = self.rooms("200 joined a: you are in a (1 member)",
                           "200 joined b: you are in b (1 member)",
                           "200 joined c: you are in c (1 member)", "104 [c] pat left",
                           "200 left c: you left c")
        self.assertEqual((rooms.names(), rooms.current), (["a", "b"], "a"))
        rooms.follow(line("104 [b] pat left"), "pat")
        self.assertEqual(rooms.current, "a")
        rooms.follow(line("104 [a] pat was removed: the room was deleted"), "pat")
        self.assertEqual((rooms.names(), rooms.current), ([], None))

    def test_another_session_joining_adds_a_room_but_not_the_current_one(self) -> None:
        rooms = self.rooms("200 joined den: you are in den (1 member)", "103 [lobby] Pat joined")
        self.assertEqual((rooms.names(), rooms.current), (["den", "lobby"], "den"))

    def test_other_people_do_not_move_us(self) -> None:
        rooms = self.rooms("200 joined den: you are in den (1 member)", "103 [lobby] quinn joined",
                           "104 [den] quinn left", "101 [den] <pat> 200 you are in x (",
                           "211-den pat", "404 you are in nowhere (really)")
        self.assertEqual((rooms.names(), rooms.current), (["den"], "den"))

    def test_names_compare_as_the_server_compares_them(self) -> None:
        self.assertEqual(room_key("#Ｌobby"), "lobby")
        rooms = self.rooms("200 joined Lobby: you are in Lobby (1 member)", "104 [LOBBY] PAT left")
        self.assertEqual(rooms.current, None)

    def test_without_a_nick_events_are_not_ours(self) -> None:
        rooms = self.rooms("103 [den] pat joined", nick="")
        rooms.follow(line("103 [lobby] pat joined"), None)
        self.assertEqual(rooms.names(), [])


class MemoryTests(TestCase):
    def test_a_guest_is_always_logged_in_again(self) -> None:
        memory = Memory(remember=False)
        memory.received(line("201 welcome guest pat: you are a guest; /join a room to talk"))
        self.assertEqual(memory.identity, Identity("pat", guest=True))
        assert memory.identity is not None
        self.assertEqual(memory.identity.login_line(), "/nick pat")

    def test_without_remember_no_password_is_kept(self) -> None:
        memory = Memory(remember=False)
        memory.sent("/login alice s3cret-pw")
        memory.sent("/join den door-pw")
        memory.received(line("201 welcome account alice: welcome back"))
        self.assertEqual(memory.identity, Identity("alice", guest=False))
        assert memory.identity is not None
        self.assertIsNone(memory.identity.login_line())
        self.assertEqual(memory.join_line("den"), "/join den")

    def test_with_remember_the_accepted_password_is_kept(self) -> None:
        memory = Memory(remember=True)
        memory.sent("/login alice wrong-pw")
        memory.sent("/LOGIN Alice s3cret-pw")
        memory.received(line("201 welcome account alice: welcome back"))
        assert memory.identity is not None
        self.assertEqual(memory.identity.login_line(), "/login alice s3cret-pw")
        memory.sent("/signup vera v3ra-pw")
        memory.received(line("201 welcome account vera: your account is created and you are "
                             "logged in"))
        self.assertEqual(memory.identity, Identity("vera", False, "v3ra-pw"))

    def test_a_welcome_for_another_name_does_not_take_the_password(self) -> None:
        memory = Memory(remember=True)
        memory.sent("/login alice s3cret-pw")
        memory.received(line("201 welcome account bob: welcome back"))
        self.assertEqual(memory.identity, Identity("bob", guest=False))

    def test_a_changed_password_is_kept_once_the_server_agrees(self) -> None:
        memory = Memory(remember=True)
        memory.sent("/login alice old-pw-1")
        memory.received(line("201 welcome account alice: welcome back"))
        memory.sent("/passwd old-pw-1 new-pw-2")
        self.assertEqual(memory.identity, Identity("alice", False, "old-pw-1"))
        memory.received(line("200 password changed"))
        self.assertEqual(memory.identity, Identity("alice", False, "new-pw-2"))
        memory.forget_password()
        self.assertEqual(memory.identity, Identity("alice", False))

    def test_room_passwords(self) -> None:
        memory = Memory(remember=True)
        memory.sent("/join den door-pw")
        memory.sent("/create Attic 5 attic-pw")
        memory.sent("/lock cellar cellar-pw")
        memory.sent("/create open 5")
        self.assertEqual(memory.join_line("DEN"), "/join DEN door-pw")
        self.assertEqual(memory.join_line("attic"), "/join attic attic-pw")
        self.assertEqual(memory.join_line("cellar"), "/join cellar cellar-pw")
        self.assertEqual(memory.join_line("open"), "/join open")
        memory.sent("/unlock #cellar")
        self.assertEqual(memory.join_line("cellar"), "/join cellar")


class SecretSpanTests(TestCase):
    def masked(self, typed: str) -> str:
        characters = list(typed)
        for start, end in secret_spans(typed):
            characters[start:end] = "*" * (end - start)
        return "".join(characters)

    def test_passwords_as_they_are_typed(self) -> None:
        self.assertEqual(self.masked("/login alice"), "/login alice")
        self.assertEqual(self.masked("/login alice "), "/login alice ")
        self.assertEqual(self.masked("/login alice s"), "/login alice *")
        self.assertEqual(self.masked("/login  alice  s3cret"), "/login  alice  ******")
        self.assertEqual(self.masked("/Signup vera pw"), "/Signup vera **")
        self.assertEqual(self.masked("/passwd old new"), "/passwd *** ***")
        self.assertEqual(self.masked("/create den 10 pw"), "/create den 10 **")
        self.assertEqual(self.masked("/join den pw"), "/join den **")
        self.assertEqual(self.masked("/lock den pw"), "/lock den **")

    def test_a_password_typed_with_spaces_is_masked_whole(self) -> None:
        self.assertEqual(self.masked("/login alice correct horse"), "/login alice ******* *****")

    def test_other_lines_show_as_typed(self) -> None:
        for typed in ["hello /login a b", "//login a b", "/msg bob pw", "/ login a b",
                      "/loginx a b", "/"]:
            self.assertEqual(secret_spans(typed), [], typed)


class MaskPasswordsTests(TestCase):
    def shown(self, text: str, lineno: int = 0) -> list[tuple[str, str]]:
        document = Document(text, len(text))
        fragments: StyleAndTextTuples = [("class:typed", document.lines[lineno])]
        control = BufferControl(Buffer(document=document))
        transformation = MaskPasswords().apply_transformation(TransformationInput(
            control, document, lineno, lambda index: index, fragments, 80, 1))
        return [(style, text) for style, text, *_ in transformation.fragments]

    def plain(self, fragments: list[tuple[str, str]]) -> str:
        return "".join(text for _, text in fragments)

    def test_the_password_shows_as_stars_while_typed(self) -> None:
        self.assertEqual(self.plain(self.shown("/login alice s3cret")), "/login alice ******")
        self.assertEqual(self.plain(self.shown("/passwd old new")), "/passwd *** ***")
        self.assertEqual(self.shown("hello s3cret"), [("class:typed", "hello s3cret")])

    def test_styles_are_kept(self) -> None:
        self.assertEqual(set(self.shown("/join den pw")), {("class:typed", c) for c in
                                                          "/join den **"})

    def test_a_second_line_is_masked_where_its_characters_are(self) -> None:
        # A pasted line break: each screen line masks its own characters of the password.
        self.assertEqual(self.plain(self.shown("/login alice s3\ncret")), "/login alice **")
        self.assertEqual(self.plain(self.shown("/login alice s3\ncret", lineno=1)), "****")


class PromptTests(TestCase):
    def client(self) -> tuple[Client, FakeEndpoint]:
        endpoint = FakeEndpoint()
        client = Client(Clock(), ClientOptions(host="h"), endpoint,  # type: ignore[arg-type]
                        RecordingDisplay(), Transcript(), stay_on_loss=True)
        return client, endpoint

    def prompt(self, client: Client) -> str:
        return "".join(fragment[1] for fragment in prompt_fragments(client))

    def test_the_prompt_shows_the_room_and_the_name(self) -> None:
        client, endpoint = self.client()
        self.assertEqual(self.prompt(client), "(not connected)> ")
        client.connect()
        self.assertEqual(self.prompt(client), "(connecting)> ")
        protocol, _ = endpoint.accept()
        self.assertEqual(self.prompt(client), "> ")
        protocol.dataReceived(b"220 hi\r\n201 welcome guest pat: you are a guest\r\n")
        self.assertEqual(self.prompt(client), "pat> ")
        protocol.dataReceived(b"103 [den] pat joined\r\n"
                              b"200 joined den: you are in den (1 member)\r\n")
        self.assertEqual(self.prompt(client), "[den] pat> ")
        self.assertIn(("class:room", "[den] "), prompt_fragments(client))
