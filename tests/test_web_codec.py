"""The web protocol's messages for history (110) and room changes, as pure functions."""

from __future__ import annotations

import json

from twisted.trial import unittest

from chatd.frontends.web.codec import history_payload, render_payload
from chatd.kernel.events import ModeChanged, Private, Said

AT = 1767225600.5  # 2026-01-01T00:00:00.500Z


class HistoryPayloadTests(unittest.TestCase):
    def test_a_kept_message_is_a_110_with_its_fields_and_the_line_protocols_text(self) -> None:
        said = Said("lobby", "carol", "hi all", origin="session-7", id="chatd-9", at=AT)
        self.assertEqual(json.loads(history_payload(said)), {
            "code": 110,
            "event": {"type": "Said", "id": "chatd-9", "at": AT, "room": "lobby",
                      "sender": "carol", "text": "hi all", "action": False, "notice": False,
                      "account": False},
            "text": "2026-01-01T00:00:00.500Z chatd-9 [lobby] <carol> hi all",
        })

    def test_a_kept_private_message_names_both_parties(self) -> None:
        private = Private("carol", "ann", "psst", id="chatd-3", at=AT)
        message = json.loads(history_payload(private))
        self.assertEqual(message["text"], "2026-01-01T00:00:00.500Z chatd-3 *carol* -> ann psst")
        self.assertEqual(message["event"]["recipient"], "ann")


class ModePayloadTests(unittest.TestCase):
    def test_a_new_room_password_is_not_told_to_the_browsers(self) -> None:
        locked = json.loads(render_payload(ModeChanged("den", "ann", "+k", "s3cret", at=AT)))
        self.assertEqual((locked["code"], locked["event"]["arg"]), (106, ""))
        self.assertNotIn("s3cret", json.dumps(locked))
        limited = json.loads(render_payload(ModeChanged("den", "ann", "+l", "5", at=AT)))
        self.assertEqual(limited["event"]["arg"], "5")
