"""History's record of a room message: the short path writes exactly what the general one
(``to_dict`` through the JSON encoder) would, so files stay readable either way."""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from chatd.history.files import _JSON, encode
from chatd.kernel.events import Said, from_dict
from chatd.storage.journal import decode_record

MESSAGES = [
    Said("lobby", "bob", 'hello "there" \\ ünï 😀 \u2028 </x>', False, "chatd-1", False,
         id="chatd-2", at=1764467000.123456),
    Said("r", "a", "t", True, "", True, id="x", at=0.0),
    Said("r", "a", "t", False, "o", id="y", at=1e20),
    Said("r", "a", "x" * 400, id="z", at=12.5),
    Said("r", "a", "t", room_id="01KQ4ZP5K3M0V7W2X4Y6Z8A0BC", id="w", at=1.0),
]


class TheRecordOfARoomMessage(TestCase):
    def test_is_what_the_json_encoder_makes_of_its_fields(self) -> None:
        for said in MESSAGES:
            general = _JSON.encode({
                "type": "Said", "id": said.id, "at": said.at, "room": said.room,
                "sender": said.sender, "text": said.text, "action": said.action,
                "origin": said.origin, "room_id": said.room_id}).encode()
            self.assertEqual(encode(said).split(b" ", 1)[1], general + b"\n")

    def test_reads_back_as_the_same_message(self) -> None:
        for said in MESSAGES:
            record = decode_record(encode(said).rstrip(b"\n"))
            assert record is not None
            back = from_dict(record)
            assert isinstance(back, Said)
            self.assertEqual((back.id, back.at, back.room, back.sender, back.text,
                              back.action, back.origin, back.room_id),
                             (said.id, said.at, said.room, said.sender, said.text,
                              said.action, said.origin, said.room_id))

    def test_is_made_once_and_kept_with_the_event(self) -> None:
        said = MESSAGES[0]
        self.assertIs(said.encoded(encode), said.encoded(encode))
