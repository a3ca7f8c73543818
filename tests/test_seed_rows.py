"""The rest of seeds 000 and 003: the join notice's member count, signup-on-login, /logout."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.auth.checkers import SignupLimits
from chatd.auth.realm import make_portal
from chatd.frontends.line import LineFactory, Options

from fakes import World


class JoinCountTests(TestCase):
    def test_the_join_notice_counts_the_members(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        ann, bob = world.connect(), world.connect()
        ann.send("/nick ann", "/join lobby")
        bob.send("/nick bob", "/join lobby")
        self.assertEqual(ann.read(), ["103 [lobby] bob joined (2 members)"])


class SignupOnLoginTests(TestCase):
    def world(self, on: bool) -> World:
        world = World(Path(self.mktemp()).absolute().parent)
        world.portal = make_portal(world.server, world.delivery, world.directory, lambda: True,
                                   SignupLimits(world.clock, 1, 10_000),
                                   exempt=world.admission.is_exempt,
                                   registered=world.directory.registered,
                                   signup_on_login=lambda: on)
        world.factory = LineFactory(world.portal, Options(), world.clock, world.admission,
                                    world.server.stats)
        return world

    def test_off_by_default_an_unknown_name_is_a_wrong_login(self) -> None:
        client = self.world(False).connect()
        self.assertEqual(client.send("/login ann password-ann")[0][:3], "430")

    def test_on_a_login_of_an_unknown_name_makes_the_account(self) -> None:
        world = self.world(True)
        client = world.connect()
        self.assertEqual(client.send("/login ann password-ann")[0][:3], "201")
        self.assertIsNotNone(world.directory.registered("ann"))
        # A known name still needs its password.
        self.assertEqual(world.connect().send("/login ann wrong-password")[0][:3], "430")

    def test_on_the_signup_limits_hold(self) -> None:
        world = self.world(True)
        world.connect().send("/login ann password-ann")
        self.assertEqual(world.connect().send("/login bob password-bob")[0][:3], "429")


class LogoutTests(TestCase):
    def test_logout_keeps_the_connection_back_at_the_greeting(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        ann, bob = world.connect(), world.connect()
        bob.send("/nick bob", "/join lobby")
        ann.send("/signup ann password-ann", "/join lobby")
        bob.read()
        lines = ann.send("/logout")
        # Its rooms hear it quit, as it does, then it is greeted again.
        self.assertEqual(lines[0], "104 [lobby] ann quit: logged out")
        self.assertTrue(lines[1].startswith("220 logged out; chatd ready."))
        self.assertEqual(bob.read(), ["104 [lobby] ann quit: logged out"])
        self.assertNotIn("ann", world.server.users)
        self.assertEqual(ann.send("hello")[0][:3], "401")
        self.assertEqual(ann.send("/login ann password-ann")[0][:3], "201")

    def test_logout_before_login_is_refused(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent)
        self.assertEqual(world.connect().send("/logout")[0][:3], "401")
