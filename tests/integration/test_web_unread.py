"""Read markers on the web page, in a real headless Chromium against the real daemon.

ann has an account and two rooms, alpha and beta; carol (a line guest) talks in them, and
ann has a second session on the line protocol (another device). While the page shows alpha,
what carol says in beta is counted on beta's tab; opening beta shows a divider where the
unread messages begin, the count goes, and the page moves the account's read marker (the
line session is told: ``121``). What the line session reads is not unread on the page. After
a reload the page joins again and is replayed what it has not read, with the ``122`` saying
how much more there is shown in the room. Without Chromium the test is skipped, except under
CI (``CI`` set), where a missing browser fails it.
"""

from __future__ import annotations

import os
import re
import tempfile
import unittest
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Daemon, LineClient, account, guest
from tests.integration.test_web_browser import (
    CHROMIUM,
    TIMEOUT_MS,
    sync_playwright_browser,
    web_port,
)

pytestmark = pytest.mark.external

# Messages replayed on join: small, so that a few unread ones overflow into a 122.
REPLAY = 3
PASSWORD = "ann-password"
# The page sends /read a second after it shows a message.
READ_MS = 5_000


class WebUnreadTests(unittest.TestCase):
    def setUp(self) -> None:
        if CHROMIUM is None:
            if os.environ.get("CI"):
                self.fail("chromium is missing (CI installs it: apt-get install chromium)")
            self.skipTest("chromium is not installed")
        data = tempfile.TemporaryDirectory(prefix="chatd-web-unread-")
        self.addCleanup(data.cleanup)
        self.daemon = Daemon(Path(data.name), ["--web", "tcp:0:interface=127.0.0.1",
                                               "--history-replay", str(REPLAY)]).start()
        self.addCleanup(self.daemon.cleanup)
        self.artifacts = Path(tempfile.mkdtemp(prefix="chatd-web-unread-shots-"))

    def test_unread_counts_divider_and_markers_shared_with_another_device(self) -> None:
        from playwright.sync_api import expect

        account(self.daemon, "signup", "ann", PASSWORD).close()
        carol = guest(self.daemon, "carol")
        url = f"http://127.0.0.1:{web_port(self.daemon)}/"
        with sync_playwright_browser() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            self.log_in(page)
            for room in ("alpha", "beta"):
                page.fill("#join-name", room)
                page.click("button[data-verb=join]")
                expect(page.locator("#title")).to_have_text(room)
                carol.ok(f"/join {room}")
            # ann's other device: in both rooms already, as membership is the account's.
            phone = account(self.daemon, "login", "ann", PASSWORD)
            self.assertEqual(len([e for e in phone.events if e.code == 108]), 2, phone.events)

            # 1. Shown alpha; carol talks in beta: beta's tab counts it.
            tab(page, "alpha").click()
            expect(page.locator("#title")).to_have_text("alpha")
            self.say(carol, "beta", "b1", "b2", "b3")
            expect(badge(page, "beta")).to_have_text("3")
            expect(badge(page, "beta")).to_have_attribute("aria-label", "3 unread")
            expect(badge(page, "alpha")).to_have_count(0)
            # Opened: a divider before the first unread message, and no count any more.
            tab(page, "beta").click()
            expect(page.locator("#title")).to_have_text("beta")
            self.assertEqual(after_divider(page), "b1")
            expect(page.locator("#tabs .unread")).to_have_count(0)
            # The page read beta while it showed it: the other device is told how far.
            newest = newest_id(phone, "beta")
            phone.wait_event(f"121 [beta] read up to {newest}", timeout=READ_MS / 1000)

            # Again, now that the page knows the marker: the divider is after b3.
            tab(page, "alpha").click()
            self.say(carol, "beta", "b4", "b5")
            expect(badge(page, "beta")).to_have_text("2")
            tab(page, "beta").click()
            self.assertEqual(after_divider(page), "b4")
            expect(page.locator("#log li.divider")).to_have_count(1)
            newest = newest_id(phone, "beta")
            phone.wait_event(f"121 [beta] read up to {newest}", timeout=READ_MS / 1000)
            page.screenshot(path=str(self.artifacts / "divider.png"))

            # 2. Comings and goings are not unread messages.
            carol.ok("/leave alpha")
            carol.ok("/join alpha")
            page.fill("#say", "/help")  # answered after the page has had carol's comings
            page.press("#say", "Enter")
            expect(page.locator("#log li.notice", has_text="end of help")).to_have_count(1)
            expect(badge(page, "alpha")).to_have_count(0)
            # Read on the other device is not unread here, without opening alpha.
            self.say(carol, "alpha", "a1", "a2")
            expect(badge(page, "alpha")).to_have_text("2")
            phone.ok("/read alpha")
            expect(badge(page, "alpha")).to_have_count(0)
            # What comes after the marker is unread again.
            self.say(carol, "alpha", "a3")
            expect(badge(page, "alpha")).to_have_text("1")
            expect(page.locator("#title")).to_have_text("beta")

            # 3. A reload: ann's last session ends (no seats here), she leaves both rooms and
            # misses what carol says; logged in again, joining beta replays what she has not
            # read (the first REPLAY after her marker), and says how much more there is.
            phone.close()
            page.reload()
            carol.wait_event(lambda e: e.code == 104 and "ann" in e.text and "beta" in e.text)
            self.say(carol, "beta", "c1", "c2", "c3", "c4", "c5")
            self.log_in(page)
            page.fill("#join-name", "beta")
            page.click("button[data-verb=join]")
            expect(page.locator("#title")).to_have_text("beta")
            log = page.locator("#log")
            for text in ("c1", "c2", "c3"):
                expect(log.locator("li.history", has_text=re.compile(f"^.*{text}$"))
                       ).to_have_count(1)
            texts = page.locator("#log li .text").all_inner_texts()
            for text in ("b1", "b2", "b3", "b4", "b5", "c4", "c5"):
                self.assertNotIn(text, texts)  # read already, or not replayed
            more = log.locator("li.notice", has_text="2 more unread")
            expect(more).to_have_count(1)
            expect(more).to_contain_text("/history beta after ")
            expect(more).not_to_contain_text("[beta]")
            self.assertEqual(after_divider(page), "c1")
            expect(page.locator("#status")).not_to_contain_text("unread")
            page.screenshot(path=str(self.artifacts / "replayed.png"))
            print(f"screenshots of the unread divider: {self.artifacts}")
            self.assertEqual(errors, [], "the page's console")
        carol.close()
        self.assertEqual(self.daemon.problems(), [])

    @staticmethod
    def log_in(page: Any) -> None:
        from playwright.sync_api import expect

        expect(page.locator("#status")).to_have_text("connected")
        page.fill("#login-name", "ann")
        page.fill("#login-password", PASSWORD)
        page.click("button[data-verb=login]")
        expect(page.locator("#me")).to_have_text("ann")

    @staticmethod
    def say(line: LineClient, room: str, *texts: str) -> None:
        """``line`` says each of ``texts`` in ``room`` (made its current room), seen said."""
        line.ok(f"/join {room}")
        for text in texts:
            line.send(text)
            line.wait_event(f"101 [{room}] <{line.name}> {text}")


def tab(page: Any, name: str) -> Any:
    return page.locator("#tabs button", has_text=re.compile(f"^{name}"))


def badge(page: Any, name: str) -> Any:
    return tab(page, name).locator(".unread")


def after_divider(page: Any) -> str:
    """The text of the message right after the page's unread divider ("" without one)."""
    from playwright.sync_api import expect

    expect(page.locator("#log li.divider")).to_have_count(1)
    text: str = page.evaluate(
        "() => document.querySelector('#log li.divider')"
        ".nextElementSibling.querySelector('.text').textContent")
    return text


def newest_id(line: LineClient, room: str) -> str:
    """The id of ``room``'s newest message, from its history (a 110: ``TIME ID ...``)."""
    line.events = [e for e in line.events if e.code != 110]
    line.ok(f"/history {room} 1")
    kept = [e for e in line.events if e.code == 110]
    assert len(kept) == 1, kept
    return kept[0].text.split(" ")[1]
