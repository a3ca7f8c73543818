"""IRC registration as a state machine, with no transport, portal or clock: lines in, actions
out, and the login's outcome fed back by hand."""

from __future__ import annotations

import base64

from twisted.trial.unittest import TestCase
from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.registration import (
    CAPABILITIES,
    SASL_CHUNK,
    SASL_MAX,
    CapsChanged,
    Close,
    LogIn,
    Refuse,
    Registration,
    Reply,
    Send,
    State,
    Welcome,
)
from chatd.frontends.irc.replies import SASL
from chatd.kernel import errors
from chatd.kernel.credentials import AccountLogin, GuestNick, Signup

HOST = "192.0.2.7"


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


class GuestTests(TestCase):
    def test_nick_then_user_logs_in_a_guest_then_welcomes(self) -> None:
        machine = Registration(HOST)
        self.assertEqual(machine.nick("ann"), [])
        self.assertEqual(machine.user("ann", "Real Name"), [LogIn(GuestNick("ann", HOST))])
        self.assertIs(machine.state, State.ANONYMOUS)
        self.assertEqual(machine.logged_in("ann", guest=True), [Welcome()])
        self.assertIs(machine.state, State.REGISTERED)
        self.assertEqual(machine.client, "ann")

    def test_a_password_makes_it_an_account_login(self) -> None:
        machine = Registration(HOST)
        machine.password("secret-1")
        machine.user("ann", "Real Name")
        self.assertEqual(machine.nick("owner"), [LogIn(AccountLogin("owner", "secret-1", HOST))])
        self.assertEqual(machine.logged_in("owner", guest=False), [
            Reply(codec.RPL_LOGGEDIN, ("owner!owner@chatd", "owner",
                                       "You are now logged in as owner")),
            Welcome(),
        ])

    def test_a_nick_in_use_may_be_retried_without_closing(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        error = errors.NameTaken("taken")
        self.assertEqual(machine.refused(error), [Refuse(error, "nick", "ann", "NICK")])
        self.assertEqual(machine.client, "*")
        self.assertEqual(machine.nick("ann2"), [LogIn(GuestNick("ann2", HOST))])

    def test_a_wrong_password_closes(self) -> None:
        machine = Registration(HOST)
        machine.password("nope")
        machine.nick("owner")
        machine.user("ann", "Real Name")
        error = errors.WrongCredentials("wrong")
        self.assertEqual(machine.refused(error),
                         [Refuse(error, "nick", "owner", "NICK"), Close(str(error))])

    def test_a_missing_nick_is_431(self) -> None:
        self.assertEqual(Registration(HOST).nick(None),
                         [Reply(irc.ERR_NONICKNAMEGIVEN, ("No nickname given",))])


class NegotiationTests(TestCase):
    def test_cap_ls_holds_registration_until_cap_end(self) -> None:
        machine = Registration(HOST)
        offered = " ".join(f"{name}={value}" if value else name
                           for name, value in CAPABILITIES.items())
        self.assertIn("sasl=PLAIN draft/account-registration=before-connect", offered)
        self.assertEqual(machine.cap("LS", "302"), [Send("CAP", ("*", "LS", offered))])
        self.assertIs(machine.state, State.NEGOTIATING)
        self.assertEqual(machine.nick("ann") + machine.user("ann", "Real Name"), [])
        self.assertEqual(machine.cap("END"), [LogIn(GuestNick("ann", HOST))])
        self.assertIs(machine.state, State.ANONYMOUS)

    def test_old_clients_get_capability_names_without_values(self) -> None:
        self.assertEqual(Registration(HOST).cap("LS"),
                         [Send("CAP", ("*", "LS", " ".join(CAPABILITIES)))])
        self.assertIn("sasl draft/account-registration ", " ".join(CAPABILITIES))

    def test_cap_req_acks_known_capabilities_and_naks_the_rest(self) -> None:
        machine = Registration(HOST)
        self.assertEqual(machine.cap("REQ", "sasl"),
                         [Send("CAP", ("*", "ACK", "sasl")), CapsChanged()])
        self.assertEqual(machine.cap("REQ", "sasl"), [Send("CAP", ("*", "ACK", "sasl"))])
        self.assertEqual(machine.cap("REQ", "sasl frob"),
                         [Send("CAP", ("*", "NAK", "sasl frob"))])
        self.assertEqual(machine.cap("LIST"), [Send("CAP", ("*", "LIST", "sasl"))])
        machine.cap("REQ", "-sasl")
        self.assertEqual(machine.caps, set())
        self.assertEqual(machine.cap("frob"),
                         [Reply(codec.ERR_INVALIDCAPCMD, ("frob", "Invalid CAP command"))])

    def test_sasl_inside_a_negotiation_then_cap_end_welcomes_without_a_second_login(
            self) -> None:
        machine = Registration(HOST)
        machine.cap("LS", "302")
        machine.nick("owner")
        machine.user("ann", "Real Name")
        self.assertEqual(machine.authenticate("PLAIN"), [Send("AUTHENTICATE", ("+",), "")])
        self.assertEqual(machine.authenticate(plain("owner", "pw")),
                         [LogIn(AccountLogin("owner", "pw", HOST))])
        self.assertEqual(machine.logged_in("owner", guest=False)[1:],
                         [Reply(codec.RPL_SASLSUCCESS, ("SASL authentication successful",))])
        self.assertIs(machine.state, State.AUTHENTICATED_NEGOTIATING)
        self.assertEqual(machine.cap("END"), [Welcome()])
        self.assertIs(machine.state, State.REGISTERED)

    def test_cap_after_registration_reopens_nothing(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        self.assertEqual(machine.cap("LS"),
                         [Send("CAP", ("ann", "LS", " ".join(CAPABILITIES)))])
        self.assertEqual(machine.cap("END"), [])
        self.assertIs(machine.state, State.REGISTERED)

    def test_cap_req_after_registration_changes_the_caps(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        before = machine.caps
        self.assertEqual(machine.cap("REQ", "server-time echo-message"),
                         [Send("CAP", ("ann", "ACK", "server-time echo-message")),
                          CapsChanged()])
        self.assertEqual(machine.caps, {"server-time", "echo-message"})
        self.assertEqual(before, set())  # replaced, not changed in place
        self.assertEqual(machine.cap("REQ", "server-time"),
                         [Send("CAP", ("ann", "ACK", "server-time"))])
        self.assertEqual(machine.cap("REQ", "-echo-message"),
                         [Send("CAP", ("ann", "ACK", "-echo-message")), CapsChanged()])
        self.assertEqual(machine.caps, {"server-time"})

    def test_nick_after_registration_logs_nothing_in_again(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        self.assertEqual(machine.nick("bob"), [])
        self.assertEqual(machine.user("ann", "Other"),
                         [Reply(irc.ERR_ALREADYREGISTRED, ("You may not reregister",))])


class SaslTests(TestCase):
    def test_a_refused_sasl_login_is_reported_and_the_connection_stays(self) -> None:
        machine = Registration(HOST)
        machine.authenticate("PLAIN")
        response = plain("owner", "wrong")
        machine.authenticate(response)
        error = errors.WrongCredentials("wrong")
        self.assertEqual(machine.refused(error), [Refuse(error, "sasl", response,
                                                         "AUTHENTICATE")])

    def test_other_mechanisms_abort_and_malformed_responses(self) -> None:
        machine = Registration(HOST)
        self.assertEqual([a.code for a in machine.authenticate("EXTERNAL")
                          if isinstance(a, Reply)], [codec.RPL_SASLMECHS, codec.ERR_SASLFAIL])
        machine.authenticate("PLAIN")
        self.assertEqual(machine.authenticate("*"),
                         [Reply(codec.ERR_SASLABORTED, ("SASL authentication aborted",))])
        machine.authenticate("PLAIN")
        self.assertEqual(machine.authenticate("bm90IHBsYWlu"), [Reply(
            codec.ERR_SASLFAIL, ("SASL authentication failed: malformed PLAIN",))])

    def test_responses_come_in_400_byte_chunks_up_to_a_limit(self) -> None:
        machine = Registration(HOST)
        response = plain("owner", "p" * 400)
        machine.authenticate("PLAIN")
        self.assertEqual(machine.authenticate(response[:SASL_CHUNK]), [])
        self.assertEqual(machine.authenticate(response[SASL_CHUNK:]),
                         [LogIn(AccountLogin("owner", "p" * 400, HOST))])
        machine = Registration(HOST)
        machine.authenticate("PLAIN")
        chunks = SASL_MAX // SASL_CHUNK + 1
        replies = [machine.authenticate("A" * SASL_CHUNK) for _ in range(chunks)]
        self.assertEqual(replies[-1], [Reply(
            codec.ERR_SASLFAIL, ("SASL authentication failed: response too long",))])

    def test_a_response_of_exactly_400_bytes_ends_with_a_plus(self) -> None:
        machine = Registration(HOST)
        response = plain("owner", "p" * 600)[:2 * SASL_CHUNK]
        password = base64.b64decode(response).split(b"\0")[2].decode()
        machine.authenticate("PLAIN")
        self.assertEqual(machine.authenticate(response[:SASL_CHUNK]), [])
        self.assertEqual(machine.authenticate(response[SASL_CHUNK:]), [])
        self.assertEqual(machine.authenticate("+"),
                         [LogIn(AccountLogin("owner", password, HOST))])

    def test_a_chunk_over_400_bytes_is_905(self) -> None:
        machine = Registration(HOST)
        machine.authenticate("PLAIN")
        self.assertEqual(machine.authenticate("A" * (SASL_CHUNK + 1)),
                         [Reply(codec.ERR_SASLTOOLONG, ("SASL message too long",))])
        self.assertEqual(machine.authenticate("PLAIN"), [Send("AUTHENTICATE", ("+",), "")])

    def test_completing_registration_aborts_an_unfinished_sasl(self) -> None:
        machine = Registration(HOST)
        machine.cap("LS", "302")
        machine.authenticate("PLAIN")
        machine.nick("ann")
        machine.user("ann", "Real Name")
        self.assertEqual(machine.cap("END"), [
            Reply(codec.ERR_SASLABORTED, ("SASL authentication aborted",)),
            LogIn(GuestNick("ann", HOST))])

    def test_a_guest_logs_in_after_the_welcome_and_is_then_called_by_the_account(
            self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        self.assertEqual(machine.authenticate("PLAIN", "session-1"),
                         [Send("AUTHENTICATE", ("+",), "")])
        self.assertEqual(machine.authenticate(plain("owner", "pw"), "session-1"),
                         [LogIn(AccountLogin("owner", "pw", HOST, "session-1", "ann"))])
        # 900 and 903 first (irctest reads them as the next two lines), then the NICK.
        self.assertEqual(machine.logged_in("owner", guest=False), [
            Reply(codec.RPL_LOGGEDIN, ("owner!owner@chatd", "owner",
                                       "You are now logged in as owner")),
            Reply(codec.RPL_SASLSUCCESS, ("SASL authentication successful",)),
            Send("NICK", ("owner",), prefix="ann!ann@chatd")])
        self.assertIs(machine.state, State.REGISTERED)
        self.assertEqual((machine.name, machine.guest), ("owner", False))

    def test_an_account_never_logs_in_to_another_after_the_welcome(self) -> None:
        machine = Registration(HOST)
        machine.authenticate("PLAIN")
        machine.authenticate(plain("owner", "pw"))
        machine.logged_in("owner", guest=False)
        machine.nick("owner")
        machine.user("ann", "Real Name")
        self.assertIs(machine.state, State.REGISTERED)
        self.assertEqual(machine.authenticate("PLAIN", "session-1"), [
            Reply(codec.ERR_SASLALREADY, ("You have already authenticated",))])

    def test_a_refused_login_after_the_welcome_leaves_the_guest_as_it_was(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        machine.authenticate("PLAIN", "session-1")
        machine.authenticate(plain("owner", "pw"), "session-1")
        error = errors.TooManySessions("owner is logged in already")
        self.assertEqual(machine.refused(error),
                         [Refuse(error, SASL, plain("owner", "pw"), "AUTHENTICATE")])
        self.assertEqual((machine.name, machine.guest), ("ann", True))

    def test_authenticating_twice_is_907(self) -> None:
        machine = Registration(HOST)
        machine.authenticate("PLAIN")
        machine.authenticate(plain("owner", "pw"))
        machine.logged_in("owner", guest=False)
        self.assertIs(machine.state, State.AUTHENTICATED)
        self.assertEqual(machine.authenticate("PLAIN"), [
            Reply(codec.ERR_SASLALREADY, ("You have already authenticated",))])


class RegisterDraftTests(TestCase):
    def test_register_needs_a_nick_and_takes_it_as_the_account_name(self) -> None:
        machine = Registration(HOST)
        self.assertEqual(machine.register("*", "pw"), [
            Send("FAIL", ("REGISTER", "NEED_NICK", "*", "send NICK first"))])
        machine.nick("newbie")
        self.assertEqual(machine.register("other", "pw"), [Send("FAIL", (
            "REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", "other", "the account name is your nick"))])
        self.assertEqual(machine.register("NEWBIE", "a-long-password"),
                         [LogIn(Signup("newbie", "a-long-password", HOST))])
        self.assertEqual(machine.logged_in("newbie", guest=False)[1:], [Send(
            "REGISTER", ("SUCCESS", "newbie", "your account is created and you are logged in"))])

    def test_a_refused_signup_is_a_fail_naming_the_account(self) -> None:
        machine = Registration(HOST)
        machine.nick("owner")
        machine.register("owner", "a-long-password")
        error = errors.NameTaken("exists")
        self.assertEqual(machine.refused(error), [Refuse(error, "register", "owner", "REGISTER")])

    def test_a_guest_registers_its_nick_after_the_welcome(self) -> None:
        machine = Registration(HOST)
        machine.nick("ann")
        machine.user("ann", "Real Name")
        machine.logged_in("ann", guest=True)
        self.assertEqual(machine.register("bob", "pw", "s-1")[0], Send("FAIL", (
            "REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", "bob", "the account name is your nick")))
        self.assertEqual(machine.register("*", "a-long-password", "s-1"),
                         [LogIn(Signup("ann", "a-long-password", HOST, "s-1"))])
        self.assertEqual(machine.logged_in("ann", guest=False), [
            Reply(codec.RPL_LOGGEDIN, ("ann!ann@chatd", "ann", "You are now logged in as ann")),
            Send("REGISTER", ("SUCCESS", "ann", "your account is created and you are logged in"))])
        self.assertIs(machine.state, State.REGISTERED)
        [fail] = machine.register("ann", "pw", "s-1")
        assert isinstance(fail, Send)
        self.assertEqual(fail.params[:2], ("REGISTER", "ALREADY_AUTHENTICATED"))

    def test_before_connect_can_be_turned_off(self) -> None:
        machine = Registration(HOST)
        [ls] = machine.cap("LS", "302", before_connect=False)
        assert isinstance(ls, Send)
        self.assertIn(" draft/account-registration ", f" {ls.params[2]} ")
        machine.nick("ann")
        [fail] = machine.register("*", "a-long-password", before_connect=False)
        assert isinstance(fail, Send)
        self.assertEqual(fail.params[:2], ("REGISTER", "COMPLETE_CONNECTION_REQUIRED"))


class RegisteredTests(TestCase):
    def setUp(self) -> None:
        self.machine = Registration(HOST)
        self.machine.nick("Ann")
        self.machine.user("ann", "Real Name")
        self.machine.logged_in("Ann", guest=True)

    def test_reregistering_is_462(self) -> None:
        again = [Reply(irc.ERR_ALREADYREGISTRED, ("You may not reregister",))]
        self.assertEqual(self.machine.user("ann", "Real Name"), again)
        self.assertEqual(self.machine.password("x"), again)

    def test_no_nick_after_registering_is_431(self) -> None:
        self.assertEqual(self.machine.nick(None),
                         [Reply(irc.ERR_NONICKNAMEGIVEN, ("No nickname given",))])
