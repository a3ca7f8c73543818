"""The client coming back by itself after a dropped connection: the waits between attempts,
logging in again, rejoining, and the lines typed meanwhile. In memory, on a Clock."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from chatd_client.client import MAX_HELD, Client
from chatd_client.connection import ServerConnection
from chatd_client.options import ClientOptions
from chatd_client.transcript import Transcript

from tests.test_client_session import FakeEndpoint, RecordingDisplay

OPTIONS = ClientOptions(host="chat.example", port=7777)
GREETING = b"220 chatd ready\r\n"


class ReconnectTests(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = FakeEndpoint()
        self.display = RecordingDisplay()

    def client(self, options: ClientOptions = OPTIONS, stay_on_loss: bool = True) -> Client:
        return Client(self.clock, options, self.endpoint, self.display,  # type: ignore[arg-type]
                      Transcript(clock=self.clock.seconds), stay_on_loss=stay_on_loss)

    def accept(self) -> tuple[ServerConnection, StringTransport]:
        self.assertEqual(len(self.endpoint.attempts), 1)
        return self.endpoint.accept()

    def greeted(self, client: Client) -> tuple[ServerConnection, StringTransport]:
        client.connect()
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        return protocol, transport

    def sent(self, transport: StringTransport) -> list[str]:
        """The lines written since the last call."""
        lines = transport.value().decode().split("\r\n")[:-1]
        transport.clear()
        return lines

    def drop(self, protocol: ServerConnection) -> None:
        protocol.connectionLost(Failure(ConnectionLost()))

    def as_guest_in_den_and_lobby(self, client: Client) -> ServerConnection:
        protocol, _ = self.greeted(client)
        client.handle_input("/nick pat")
        protocol.dataReceived(b"201 welcome guest pat: you are a guest; /join a room to talk\r\n")
        for room in (b"den", b"lobby"):
            protocol.dataReceived(b"103 [" + room + b"] pat joined\r\n200 joined " + room
                                  + b": you are in " + room + b" (1 member)\r\n")
        client.handle_input("/join den")
        protocol.dataReceived(b"200 joined den: you are in den (1 member)\r\n")
        self.assertEqual(client.rooms.current, "den")
        return protocol

    def test_a_dropped_connection_is_tried_again_after_growing_waits(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        self.assertEqual(self.display.notes[-2:], [
            "* the connection to chat.example:7777 was lost",
            "* connecting again in 1 s (Ctrl-C to stop trying, Ctrl-D to exit)"])
        waits = []
        for _ in range(7):
            (call,) = self.clock.getDelayedCalls()
            waits.append(call.getTime() - self.clock.seconds())
            self.clock.advance(waits[-1])
            self.endpoint.refuse()
        self.assertEqual(waits, [1, 2, 4, 8, 16, 30, 30])
        self.assertIn("refused the connection", self.display.notes[-2])
        self.clock.advance(30)
        protocol, _ = self.accept()
        self.assertTrue(client.connected)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # Back to a short wait after a success.
        protocol.dataReceived(GREETING)
        self.drop(protocol)
        self.assertIn("again in 1 s", self.display.notes[-1])
        self.assertNoResult(client.finished)

    def test_the_server_shutting_down_is_waited_out(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        protocol.dataReceived(b"109 the server is shutting down; reconnect in a minute\r\n")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_a_client_sent_away_does_not_come_straight_back(self) -> None:
        for reason in [b"idle for 600 seconds; goodbye", b"disconnected for flooding",
                       b"no login within 30 seconds; goodbye"]:
            client = self.client()
            protocol, _ = self.greeted(client)
            protocol.dataReceived(b"109 " + reason + b"\r\n")
            protocol.connectionLost(Failure(ConnectionDone()))
            self.assertEqual(self.clock.getDelayedCalls(), [], reason)
            self.assertEqual(self.display.notes[-1],
                             "* type /reconnect to connect again, Ctrl-D to exit")

    def test_ctrl_c_stops_trying(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        client.handle_input("hello")
        client.interrupt()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.display.notes[-2:], [
            "* stopped trying; type /reconnect to connect, Ctrl-D to exit",
            "* the 1 line typed while disconnected was not sent"])
        client.handle_input("anyone?")
        self.assertEqual(self.display.notes[-1], "* not connected; type /reconnect to connect")
        client.interrupt()  # nothing left to stop: the terminal just clears the line
        self.assertEqual(self.display.notes[-1], "* not connected; type /reconnect to connect")

    def test_ctrl_c_during_an_attempt_stops_trying_after_it(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        self.clock.advance(1)
        client.interrupt()
        self.assertEqual(self.display.notes[-1], "* not trying again after this attempt")
        self.endpoint.refuse()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.display.notes[-1],
                         "* type /reconnect to try again, Ctrl-D to exit")

    def test_reconnect_does_not_wait(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        client.handle_input("/reconnect")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.endpoint.refuse()
        # Still retrying by itself, with the next wait.
        self.assertIn("again in 2 s", self.display.notes[-1])

    def test_quit_while_waiting_ends_at_once(self) -> None:
        for how in ("ctrl-d", "/quit"):
            client = self.client()
            protocol, _ = self.greeted(client)
            self.drop(protocol)
            client.handle_input("typed while away")
            if how == "ctrl-d":
                client.quit()
            else:
                client.handle_input("/quit")
            self.assertEqual(self.successResultOf(client.finished), 0)
            self.assertEqual(self.clock.getDelayedCalls(), [])
            self.assertEqual(self.display.notes[-1],
                             "* the 1 line typed while disconnected was not sent")

    def test_a_guest_gets_its_nick_and_rooms_back_then_what_was_typed(self) -> None:
        client = self.client()
        protocol = self.as_guest_in_den_and_lobby(client)
        self.drop(protocol)
        self.assertEqual(client.rooms.names(), [])
        client.handle_input("hello again")
        self.assertEqual(self.display.notes[-1], "* not connected: what you type is kept and "
                                                 "sent once the session is back")
        client.handle_input("/me is back")
        self.clock.advance(1)
        protocol, transport = self.accept()
        client.handle_input("typed before the greeting")
        self.assertEqual(self.sent(transport), [])
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), ["/nick pat"])
        self.assertEqual(self.display.notes[-1], "* logging in again as pat")
        protocol.dataReceived(b"201 welcome guest pat: you are a guest; /join a room to talk\r\n")
        # The current room is joined last, so it is current again; then the held lines.
        self.assertEqual(self.sent(transport), [
            "/join lobby", "/join den", "hello again", "/me is back",
            "typed before the greeting"])
        self.assertEqual(self.display.notes[-2:], [
            "* joining lobby, den again", "* sending the 3 lines typed while disconnected"])
        for room in (b"lobby", b"den"):
            protocol.dataReceived(b"200 joined " + room + b": you are in " + room
                                  + b" (1 member)\r\n")
        self.assertEqual(client.rooms.current, "den")
        client.handle_input("now")
        self.assertEqual(self.sent(transport), ["now"])

    def test_a_guest_with_a_resume_token_takes_its_seat_back(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        client.handle_input("/nick pat")
        protocol.dataReceived(b"123 tok-1 : if your connection drops, /resume tok-1 takes "
                              b"your seat back\r\n201 welcome guest pat: hello\r\n")
        protocol.dataReceived(b"103 [den] pat joined\r\n200 joined den: you are in den "
                              b"(1 member)\r\n")
        client.handle_input("/join lobby")
        protocol.dataReceived(b"200 joined lobby: you are in lobby (1 member)\r\n")
        self.drop(protocol)
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), ["/resume tok-1"])
        self.assertEqual(self.display.notes[-1], "* taking the seat of pat back")
        # The seat is in both rooms again: only the current one is joined, to be current.
        protocol.dataReceived(
            b"108 [den] member: you are in den (1 member)\r\n"
            b"108 [lobby] current: you are in lobby (1 member); you talk here\r\n"
            b"123 tok-2 : if your connection drops, /resume tok-2 takes your seat back\r\n"
            b"201 welcome guest pat: your seat was kept\r\n")
        self.assertEqual(self.sent(transport), ["/join lobby"])
        self.assertEqual(client.memory.token, "tok-2", "the next drop uses the new token")

    def test_a_seat_no_longer_held_falls_back_to_the_nick(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        client.handle_input("/nick pat")
        protocol.dataReceived(b"123 tok-1 : if your connection drops, /resume tok-1 takes "
                              b"your seat back\r\n201 welcome guest pat: hello\r\n")
        self.drop(protocol)
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), ["/resume tok-1"])
        protocol.dataReceived(b"430 that resume token is not valid (any more)\r\n")
        self.assertEqual(self.sent(transport), ["/nick pat"])
        self.assertEqual(self.display.notes[-1], "* the seat of pat was not kept; logging in "
                                                 "again")
        self.assertIsNone(client.memory.token)

    def test_a_nick_still_taken_is_left_to_the_person(self) -> None:
        client = self.client()
        protocol = self.as_guest_in_den_and_lobby(client)
        self.drop(protocol)
        client.handle_input("hello")
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        protocol.dataReceived(b"409 pat is taken; pick another name\r\n")
        self.assertEqual(self.display.notes[-1],
                         "* could not log in again as pat; log in yourself, and the client "
                         "will join lobby, den again and send the 1 line typed meanwhile")
        self.sent(transport)
        client.handle_input("/nick pat2")
        self.assertEqual(self.sent(transport), ["/nick pat2"])
        protocol.dataReceived(b"201 welcome guest pat2: you are a guest; /join a room to talk\r\n")
        self.assertEqual(self.sent(transport), ["/join lobby", "/join den", "hello"])

    def test_an_account_password_is_not_kept_without_remember(self) -> None:
        client = self.client()
        protocol, transport = self.greeted(client)
        client.handle_input("/login alice s3cret-pw")
        protocol.dataReceived(b"201 welcome account alice: welcome back\r\n")
        client.handle_input("/join den")
        protocol.dataReceived(b"200 joined den: you are in den (1 member)\r\n")
        self.drop(protocol)
        client.handle_input("hi")
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), [])
        self.assertEqual(self.display.notes[-1],
                         "* log in again with /login alice PASSWORD, and the client will join "
                         "den again and send the 1 line typed meanwhile (start chatd-client "
                         "with --remember to have that done for you)")
        # Not logging in is the person's business: what they type now goes straight out.
        client.handle_input("/login alice s3cret-pw")
        self.assertEqual(self.sent(transport), ["/login alice s3cret-pw"])
        protocol.dataReceived(b"201 welcome account alice: welcome back\r\n")
        self.assertEqual(self.sent(transport), ["/join den", "hi"])
        self.assertNotIn("s3cret-pw", client.transcript.render())

    def test_with_remember_an_account_logs_in_and_unlocks_its_rooms_again(self) -> None:
        client = self.client(ClientOptions(host="chat.example", remember=True))
        protocol, transport = self.greeted(client)
        client.handle_input("/login alice s3cret-pw")
        protocol.dataReceived(b"201 welcome account alice: welcome back\r\n")
        client.handle_input("/join den door-pw")
        protocol.dataReceived(b"200 joined den: you are in den (2 members)\r\n")
        client.handle_input("/passwd s3cret-pw n3w-secret")
        protocol.dataReceived(b"200 password changed\r\n")
        self.drop(protocol)
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), ["/login alice n3w-secret"])
        protocol.dataReceived(b"201 welcome account alice: welcome back\r\n")
        self.assertEqual(self.sent(transport), ["/join den door-pw"])
        transcript = client.transcript.render()
        for secret in ("s3cret-pw", "n3w-secret", "door-pw"):
            self.assertNotIn(secret, transcript)

    def test_a_remembered_password_refused_is_forgotten(self) -> None:
        client = self.client(ClientOptions(host="chat.example", remember=True))
        protocol, transport = self.greeted(client)
        client.handle_input("/login alice s3cret-pw")
        protocol.dataReceived(b"201 welcome account alice: welcome back\r\n")
        self.drop(protocol)
        client.handle_input("held")
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        self.assertEqual(self.sent(transport), ["/login alice s3cret-pw"])
        client.handle_input("typed while logging in")
        protocol.dataReceived(b"430 wrong name or password\r\n")
        self.assertEqual(self.display.notes[-1],
                         "* could not log in again as alice; log in yourself, and the client "
                         "will send the 2 lines typed meanwhile")
        self.assertIsNotNone(client.memory.identity)
        assert client.memory.identity is not None
        self.assertIsNone(client.memory.identity.password)
        self.assertEqual(self.sent(transport), [])

    def test_a_drop_before_the_rejoin_keeps_the_rooms_to_rejoin(self) -> None:
        client = self.client()
        protocol = self.as_guest_in_den_and_lobby(client)
        self.drop(protocol)
        self.clock.advance(1)
        protocol, _ = self.accept()
        protocol.dataReceived(GREETING)
        self.drop(protocol)
        self.clock.advance(1)
        protocol, transport = self.accept()
        protocol.dataReceived(GREETING)
        protocol.dataReceived(b"201 welcome guest pat: you are a guest; /join a room to talk\r\n")
        self.assertEqual(self.sent(transport), ["/nick pat", "/join lobby", "/join den"])

    def test_lines_typed_while_away_are_bounded(self) -> None:
        client = self.client()
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        for number in range(MAX_HELD + 1):
            client.handle_input(f"line {number}")
        self.assertEqual(self.display.notes[-1],
                         f"* not sent: {MAX_HELD} lines are already waiting for the connection")
        self.clock.advance(1)
        _, transport = self.accept()
        self.assertEqual(self.sent(transport), [f"line {n}" for n in range(MAX_HELD)])

    def test_lines_typed_while_first_connecting_are_sent_once_connected(self) -> None:
        client = self.client()
        client.connect()
        client.handle_input("/nick early")
        _, transport = self.accept()
        self.assertEqual(self.sent(transport), ["/nick early"])

    def test_a_failed_first_connection_reports_the_lines_typed(self) -> None:
        client = self.client()
        client.connect()
        client.handle_input("/nick early")
        self.endpoint.refuse()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.display.notes[-1],
                         "* the 1 line typed while disconnected was not sent")

    def test_without_a_person_a_drop_still_ends_the_session(self) -> None:
        client = self.client(stay_on_loss=False)
        protocol, _ = self.greeted(client)
        self.drop(protocol)
        self.assertEqual(self.successResultOf(client.finished), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
