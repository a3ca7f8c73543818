"""Sharing files on the line protocol: /send and /get, byte-exact, with the rules and limits
of the core and the file store (tests over StringTransport, files on disk)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.files.store import FileLimits
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.upload_deadline import UploadPace
from chatd.kernel.errors import BadName
from chatd.kernel.names import clean_file_name

from tests.fakes import Client, World

EVERY_BYTE = bytes(range(256)) * 4 + b"\r\n\n\r/quit\r\n"


def raw(client: Client) -> bytes:
    client.clock.advance(0)
    data = client.transport.value()
    client.transport.clear()
    return data


def upload(client: Client, room: str, name: str, data: bytes) -> str:
    """Send ``data`` as a file; the file's id from the 250 reply."""
    client.read()
    assert client.send(f"/send {room} {name} {len(data)}") == [f"350 send {len(data)} bytes"]
    lines = client.send_bytes(data)
    stored = [line for line in lines if line.startswith("250 ")]
    assert stored, lines
    return stored[0].split()[1]


def download(client: Client, file_id: str) -> tuple[bytes, bytes]:
    """The raw bytes of a /get, and what followed them."""
    raw(client)
    client.protocol.dataReceived(f"/get {file_id}\r\n".encode())
    data = raw(client)
    head, _, rest = data.partition(b"\r\n")
    assert head.startswith(b"351 "), data[:200]
    size = int(head.split()[1])
    return rest[:size], rest[size:]


class FileNamesTests(TestCase):
    def test_path_separators_and_dot_dot_never_survive(self) -> None:
        for raw_name in ("../../etc/passwd", "..\\..\\boot.ini", "/etc/shadow", "a/../b"):
            name = clean_file_name(raw_name)
            self.assertNotIn("/", name)
            self.assertNotIn("\\", name)
            self.assertNotIn("..", name)
            self.assertFalse(name.startswith("."))

    def test_control_and_bidi_characters_are_dropped(self) -> None:
        self.assertEqual(clean_file_name("evil\u202egnp.exe"), "evilgnp.exe")
        self.assertEqual(clean_file_name("a\x00b\x1b[31mc\u200b.txt"), "ab[31mc.txt")

    def test_a_long_name_is_cut_keeping_its_extension(self) -> None:
        name = clean_file_name("x" * 300 + ".tar.gz")
        self.assertLessEqual(len(name), 100)
        self.assertTrue(name.endswith(".gz"))

    def test_a_name_of_nothing_usable_is_refused(self) -> None:
        for raw_name in ("..", "\u202e", "...", "./"):
            self.assertRaises(BadName, clean_file_name, raw_name)


class SendAndGetTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir()
        self.world = World(self.path, file_limits=FileLimits(
            max_file_size=1_000_000, per_user=1_500_000, per_room=2_200_000, total=2_500_000))
        self.alice = self.world.connect()
        self.alice.send("/nick alice", "/join lobby")
        self.bob = self.world.connect()
        self.bob.send("/nick bob", "/join lobby")
        self.alice.read()

    def stored(self) -> list[str]:
        return sorted(p.name for p in (self.path / "files").iterdir())

    def test_every_byte_value_round_trips_exactly(self) -> None:
        file_id = upload(self.alice, "lobby", "bytes.bin", EVERY_BYTE)
        data, after = download(self.bob, file_id)
        self.assertEqual(data, EVERY_BYTE)
        digest = hashlib.sha256(EVERY_BYTE).hexdigest()
        self.assertEqual(after, f"251 {file_id} {len(EVERY_BYTE)} {digest}\r\n".encode())
        # The connection reads lines again, exactly at the next byte.
        self.assertEqual(self.bob.send("/who")[-1], "211 2 members in lobby")

    def test_the_room_is_told_who_shared_what(self) -> None:
        file_id = upload(self.alice, "lobby", "notes.txt", b"hello")
        self.assertIn(f"111 [lobby] alice shared {file_id} 5 notes.txt", self.bob.read())

    def test_the_reply_gives_id_size_hash_and_the_cleaned_name(self) -> None:
        self.alice.send("/send lobby ../../x\u202e.txt 3")
        lines = self.alice.send_bytes(b"abc")
        digest = hashlib.sha256(b"abc").hexdigest()
        self.assertRegex(lines[-1], rf"^250 [0-9a-f]{{32}} 3 {digest} _._x.txt$")
        self.assertEqual(len(self.stored()), 1)
        self.assertRegex(self.stored()[0], "^[0-9a-f]{32}$")

    def test_bytes_sent_with_the_command_are_the_files_start(self) -> None:
        lines = self.alice.send_bytes(b"/send lobby a.bin 4\r\n\x00\n\r\xff/who\r\n")
        self.assertEqual(lines[0], "350 send 4 bytes")
        stored = [line for line in lines if line.startswith("250 ")]
        self.assertEqual(lines[-1], "211 2 members in lobby")
        data, _ = download(self.bob, stored[0].split()[1])
        self.assertEqual(data, b"\x00\n\r\xff")

    def test_a_file_pipelined_behind_a_waiting_command_still_arrives(self) -> None:
        # Over 64 KiB sent ahead of the 350 pauses reading; the upload must resume it.
        data = bytes(range(256)) * 400
        owner = self.world.connect()
        owner.send("/signup owner password1", "/create locked 10 secret")
        self.world.hasher.hold = True
        self.alice.send_bytes(b"/join locked secret\r\n")
        self.alice.send_bytes(f"/send lobby a.bin {len(data)}\r\n".encode() + data[:70_000])
        self.assertTrue(self.alice.transport.producerState == "paused"
                        or self.alice.protocol._paused_by)
        self.world.hasher.release()
        lines = self.alice.send_bytes(data[70_000:])
        self.assertTrue([line for line in lines if line.startswith("250 ")], lines)
        self.assertEqual(self.alice.protocol._paused_by, 0)

    def test_an_empty_file_is_stored_at_once(self) -> None:
        lines = self.alice.send("/send lobby empty 0")
        self.assertEqual(lines[0], "350 send 0 bytes")
        self.assertTrue(lines[-1].startswith("250 "), lines)

    def test_bytes_past_size_are_an_error_not_a_message(self) -> None:
        self.alice.send("/send lobby a.txt 3")
        lines = [line for line in self.alice.send_bytes(b"abcTAIL OF THE FILE\r\n/who\r\n")
                 if not line.startswith("111 ")]
        self.assertTrue(lines[0].startswith("250 "), lines)
        self.assertTrue(lines[1].startswith("415 "), lines)
        self.assertEqual(lines[-1], "211 2 members in lobby")
        self.assertFalse([line for line in self.bob.read() if "TAIL" in line])

    def test_a_message_typed_after_the_reply_is_said(self) -> None:
        upload(self.alice, "lobby", "a.txt", b"abc")
        self.bob.read()
        self.alice.send("look at that")
        self.assertIn("101 [lobby] <alice> look at that", self.bob.read())

    def test_a_wrong_sha256_stores_nothing(self) -> None:
        self.alice.send(f"/send lobby a.txt 3 {'0' * 64}")
        lines = self.alice.send_bytes(b"abc")
        self.assertTrue(lines[-1].startswith("415 "), lines)
        self.assertEqual(self.stored(), [])

    def test_a_right_sha256_is_accepted(self) -> None:
        self.alice.send(f"/send lobby a.txt 3 {hashlib.sha256(b'abc').hexdigest()}")
        self.assertTrue(self.alice.send_bytes(b"abc")[-1].startswith("250 "))

    def test_a_client_that_disconnects_mid_upload_leaves_no_file(self) -> None:
        self.alice.send("/send lobby big.bin 1000")
        self.alice.send_bytes(b"x" * 400)
        self.assertEqual(len(self.stored()), 1)  # the .part
        self.alice.drop()
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.world.files.total, 0)

    def test_a_half_close_mid_upload_is_answered_and_leaves_no_file(self) -> None:
        self.alice.send("/send lobby big.bin 1000")
        self.alice.send_bytes(b"x" * 10)
        self.alice.protocol.readConnectionLost()
        self.assertTrue(self.alice.read()[0].startswith("415 the input ended after 10 of 1000"))
        self.assertEqual(self.stored(), [])

    def test_a_file_over_the_maximum_is_refused_before_any_byte(self) -> None:
        lines = self.alice.send("/send lobby huge 1000001", "/who")
        self.assertTrue(lines[0].startswith("417 "), lines)
        self.assertEqual(lines[-1], "211 2 members in lobby")

    def test_a_file_just_over_the_maximum_is_told_in_exact_bytes(self) -> None:
        # Rounded, both were "976.6 KiB": a refusal that did not say what was over.
        self.assertEqual(self.alice.send("/send lobby huge 1000001")[0],
                         "417 that file is 1000001 bytes; the most is 1000000 bytes")
        self.assertEqual(self.alice.send("/send lobby huge 3000000")[0],
                         "417 that file is 2.9 MiB; the most is 976.6 KiB")

    def test_a_refused_send_frames_what_followed_as_lines(self) -> None:
        lines = self.alice.send_bytes(b"/send nowhere a 3\r\n/who\r\n")
        self.assertTrue(lines[0].startswith("404 "), lines)
        self.assertEqual(lines[-1], "211 2 members in lobby")

    def test_quotas_count_per_user_per_room_and_in_all(self) -> None:
        upload(self.alice, "lobby", "a", b"x" * 1_000_000)
        lines = self.alice.send("/send lobby b 600000")
        self.assertTrue(lines[0].startswith("418 your file quota"), lines)
        upload(self.bob, "lobby", "b", b"y" * 1_000_000)
        lines = self.bob.send("/send lobby c 300000")
        self.assertTrue(lines[0].startswith("418 lobby's file quota"), lines)
        carol = self.world.connect()
        carol.send("/nick carol", "/join elsewhere")
        lines = carol.send("/send elsewhere d 600000")
        self.assertTrue(lines[0].startswith("418 the server's file quota"), lines)

    def test_uploads_in_progress_count_against_the_quota(self) -> None:
        self.alice.send("/send lobby a 1000000")
        self.alice.send_bytes(b"z" * 10)
        upload(self.bob, "lobby", "b", b"q" * 1_000_000)
        self.assertTrue(self.bob.send("/send lobby e 300000")[0].startswith("418 lobby's"))

    def test_non_members_can_neither_send_nor_get(self) -> None:
        file_id = upload(self.alice, "lobby", "a", b"secret")
        carol = self.world.connect()
        carol.send("/nick carol", "/join other")
        self.assertTrue(carol.send("/send lobby a 3")[0].startswith("406 "))
        self.assertTrue(carol.send(f"/get {file_id}")[0].startswith("403 "))

    def test_a_member_who_leaves_keeps_no_access(self) -> None:
        file_id = upload(self.alice, "lobby", "a", b"secret")
        self.bob.send("/leave lobby")
        self.assertTrue(self.bob.send(f"/get {file_id}")[0].startswith("403 "))

    def test_unknown_and_malformed_ids_are_no_such_file(self) -> None:
        for file_id in ("0" * 32, "../../members.journal", "x"):
            self.assertTrue(self.bob.send(f"/get {file_id}")[0].startswith("416 "), file_id)

    def test_sending_needs_a_name(self) -> None:
        stranger = self.world.connect()
        self.assertTrue(stranger.send("/send lobby a 3")[0].startswith("401 "))

    def test_leftovers_of_interrupted_uploads_are_removed_at_start(self) -> None:
        file_id = upload(self.alice, "lobby", "keep", b"kept")
        self.alice.send("/send lobby lost 100")
        self.alice.send_bytes(b"x" * 10)
        (self.path / "files" / ("f" * 32)).write_bytes(b"no record")
        again = World(self.path)
        self.assertEqual(sorted(again.files.files), [file_id])
        self.assertEqual(self.stored(), [file_id])

    def test_files_past_the_retention_are_deleted(self) -> None:
        upload(self.alice, "lobby", "old", b"old")
        self.world.files.limits = FileLimits(retention_days=1)
        self.world.clock.advance(86401)
        self.world.files.expire()
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.world.files.total, 0)


class UploadDeadlineTests(TestCase):
    """An upload must average ``upload-min-rate`` after its grace (here 100 bytes/s after
    10 s: 20 s for 1,000 bytes), or it is cut, and the quota it held is free again."""

    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir()
        # The whole store fits one 1,000-byte file: a held upload blocks every other.
        self.world = World(self.path, file_limits=FileLimits(total=1000),
                           options=Options(ConnectionOptions(
                               upload_pace=UploadPace(min_rate=100, grace=10))))
        self.alice = self.world.connect()
        self.alice.send("/nick alice", "/join lobby")
        self.bob = self.world.connect()
        self.bob.send("/nick bob", "/join lobby")
        self.alice.read()

    def assert_cut(self, received: int) -> None:
        """Alice's upload was answered 408 and her connection closed; nothing of it is
        left, and bob can share a file that needs the whole store."""
        lines = self.alice.read()
        self.assertEqual(lines, [
            f"408 the upload was too slow: {received} of 1000 bytes in 20 seconds (it may "
            "take 10 seconds plus one per 100 bytes); the file was not stored",
            "109 the upload was too slow; goodbye"])
        self.assertTrue(self.alice.transport.disconnecting)
        self.assertEqual(list((self.path / "files").iterdir()), [])
        self.assertEqual(self.world.files.total, 0)
        self.bob.read()
        upload(self.bob, "lobby", "b", b"b" * 1000)

    def test_a_stalled_upload_is_cut_at_its_deadline(self) -> None:
        self.assertEqual(self.alice.send("/send lobby a 1000"), ["350 send 1000 bytes"])
        self.alice.send_bytes(b"a" * 10)
        self.world.clock.advance(19.9)
        self.assertEqual(self.alice.read(), [])
        self.assertTrue(self.bob.send("/send lobby b 1000")[0].startswith("418 "))
        self.world.clock.advance(0.1)
        self.assert_cut(10)

    def test_a_dribbled_upload_is_cut_though_bytes_keep_coming(self) -> None:
        self.alice.send("/send lobby a 1000")
        for _ in range(20):
            self.assertEqual(self.alice.send_bytes(b"a"), [])
            self.world.clock.advance(1)
        self.assert_cut(20)

    def test_what_comes_after_a_cut_is_never_said(self) -> None:
        self.alice.send("/send lobby a 1000")
        self.world.clock.advance(20)
        self.alice.read()
        self.bob.read()
        self.alice.send_bytes(b"rest of the file\r\n/who\r\n")
        self.assertEqual(self.alice.read(), [])
        self.assertEqual(self.bob.read(), [])

    def test_a_slow_upload_above_the_rate_is_stored(self) -> None:
        self.alice.send("/send lobby a 1000")
        self.world.clock.advance(2)
        for _ in range(16):  # 60 bytes a second: 18 seconds in all
            self.alice.send_bytes(b"a" * 60)
            self.world.clock.advance(1)
        lines = self.alice.send_bytes(b"a" * 40)
        self.assertTrue(lines[-1].startswith("250 "), lines)
        self.world.clock.advance(100)
        self.assertEqual(self.alice.read(), [])
        self.assertEqual(self.world.files.total, 1000)

    def test_no_deadline_with_a_min_rate_of_0(self) -> None:
        (self.path / "off").mkdir()
        off = Options(ConnectionOptions(upload_pace=UploadPace(min_rate=0)))
        world = World(self.path / "off", options=off)
        alice = world.connect()
        alice.send("/nick alice", "/join lobby", "/send lobby a 1000")
        world.clock.advance(3600)
        self.assertEqual(alice.read(), [])
        self.assertTrue(alice.send_bytes(b"a" * 1000)[-1].startswith("250 "))


class DownloadBackPressureTests(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp())
        self.path.mkdir()
        self.world = World(self.path, options=Options(ConnectionOptions(max_output=8192)))
        self.alice = self.world.connect()
        self.alice.send("/nick alice", "/join lobby")
        self.bob = self.world.connect()
        self.bob.send("/nick bob", "/join lobby")
        self.data = bytes(range(256)) * 2048  # 512 KiB
        self.file_id = upload(self.alice, "lobby", "big", self.data)
        self.bob.read()

    def test_a_paused_reader_is_sent_no_more_of_the_file(self) -> None:
        outbox = self.bob.protocol.outbox
        outbox.pauseProducing()
        self.bob.protocol.dataReceived(f"/get {self.file_id}\r\n".encode())
        self.assertLess(len(raw(self.bob)), 200)  # the 351 line only
        outbox.resumeProducing()
        data = raw(self.bob)
        self.assertEqual(data.split(b"\r\n", 1)[1][:len(self.data)], self.data)

    def test_a_reader_that_stops_mid_download_is_dropped_within_max_output(self) -> None:
        outbox = self.bob.protocol.outbox
        self.bob.protocol.dataReceived(f"/get {self.file_id}\r\n".encode())
        outbox.pauseProducing()  # (StringTransport never pauses: as if the socket filled)
        for number in range(200):
            self.alice.send(f"message {number} while bob is not reading")
            if self.bob.transport.disconnecting or outbox.closed:
                break
        self.assertTrue(outbox.closed)
        self.assertLess(outbox.queued, 8192 + 100)

    def test_events_during_a_download_come_after_its_bytes(self) -> None:
        outbox = self.bob.protocol.outbox
        outbox.pauseProducing()
        self.bob.protocol.dataReceived(f"/get {self.file_id}\r\n".encode())
        self.alice.send("hello during the download")
        outbox.resumeProducing()
        data = raw(self.bob)
        _, _, rest = data.partition(b"\r\n")
        self.assertEqual(rest[:len(self.data)], self.data)
        self.assertIn(b"101 [lobby] <alice> hello during the download", rest[len(self.data):])

    def test_two_downloads_at_once_are_each_whole(self) -> None:
        carol = self.world.connect()
        carol.send("/nick carol", "/join lobby")
        for client in (self.bob, carol):
            client.protocol.outbox.pauseProducing()
            client.protocol.dataReceived(f"/get {self.file_id}\r\n".encode())
        for client in (self.bob, carol):
            client.protocol.outbox.resumeProducing()
            data = raw(client)
            body = data[data.index(b"351 "):].split(b"\r\n", 1)[1]
            self.assertEqual(body[:len(self.data)], self.data)


class IrcNoticeTests(TestCase):
    def test_irc_shows_a_shared_file_as_a_notice_to_the_channel(self) -> None:
        from chatd.frontends.irc.codec import render_event
        from chatd.kernel.events import FileShared

        line = render_event("chatd", FileShared("lobby", "alice", "a.txt", 3, "f" * 32))
        self.assertEqual(line, (":chatd NOTICE #lobby :alice shared a file: a.txt (3 bytes); "
                                f"fetch it with /get {'f' * 32} on the line protocol\r\n").encode())


class LinkCommandTests(TestCase):
    """``/link ID``: a signed HTTP link, made only for a member, only where links are on."""

    def setUp(self) -> None:
        from chatd.files.links import LinkSigner

        path = Path(self.mktemp())
        path.mkdir()
        self.world = World(path)
        self.signer = LinkSigner(b"k" * 32, self.world.clock, lifetime=60)
        self.alice = self.world.connect()
        self.alice.send("/nick alice", "/join lobby")
        self.file_id = upload(self.alice, "lobby", "a.txt", b"abc")

    def links_on(self) -> None:
        self.world.server.links = lambda file_id: ("https://chat.example" +
                                                   self.signer.make(file_id), 60)

    def test_a_member_gets_a_link_the_signer_accepts(self) -> None:
        self.links_on()
        [line] = self.alice.send(f"/link {self.file_id}")
        code, file_id, seconds, url = line.split(" ")
        self.assertEqual((code, file_id, seconds), ("252", self.file_id, "60"))
        prefix = f"https://chat.example/files/{self.file_id}?expires="
        self.assertTrue(url.startswith(prefix), url)
        expires, _, sig = url[len(prefix):].partition("&sig=")
        self.assertIsNone(self.signer.check(self.file_id, expires, sig))

    def test_someone_not_in_the_room_gets_no_link(self) -> None:
        self.links_on()
        carol = self.world.connect()
        carol.send("/nick carol")
        self.assertEqual(carol.send(f"/link {self.file_id}"),
                         ["403 only the members of lobby can fetch its files"])

    def test_whoever_leaves_the_room_gets_no_link(self) -> None:
        self.links_on()
        self.alice.send("/leave lobby")
        self.assertTrue(self.alice.send(f"/link {self.file_id}")[0].startswith("403 "))

    def test_without_the_web_frontend_there_is_no_link(self) -> None:
        self.assertEqual(self.alice.send(f"/link {self.file_id}"), [
            "403 no download links here: they need the web frontend and its web-url; "
            "/get ID fetches the file"])

    def test_an_unknown_file_is_416(self) -> None:
        self.links_on()
        self.assertTrue(self.alice.send(f"/link {'0' * 32}")[0].startswith("416 "))


class IrcLinkTests(TestCase):
    def test_the_notice_carries_the_link_and_says_it_is_short_lived(self) -> None:
        from chatd.frontends.irc.codec import file_shared
        from chatd.kernel.events import FileShared

        line = file_shared("chatd", FileShared("lobby", "alice", "a.txt", 3, "f" * 32),
                           ("https://chat.example/files/x?expires=9&sig=ab", 300))
        self.assertTrue(line.endswith(b"on the line protocol or at "
                                      b"https://chat.example/files/x?expires=9&sig=ab "
                                      b"(link valid 300 s)\r\n"), line)
