"""The interactive client: a prompt_toolkit prompt on the same asyncio loop as Twisted.

Incoming lines are printed with ``print_formatted_text``, which, while the prompt runs, erases
it, prints above, and redraws it with the half-typed line intact; ``patch_stdout`` does the
same for any stray write to stdout. History is kept in memory only, since typed lines include
passwords, and the password arguments of /login, /signup, /passwd, /join, /create and /lock
show as ``*`` while typed (and in the scrollback, which is the last drawing of the prompt).
The prompt shows the current room and the name, or that the session is away. A transfer's
progress bar is the prompt's bottom toolbar: redrawn in place under the prompt, gone once
the line saying how the transfer went is printed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.layout.utils import explode_text_fragments
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.patch_stdout import patch_stdout

from chatd_client.client import Client
from chatd_client.commands import secret_spans
from chatd_client.connection import client_endpoint
from chatd_client.options import ClientOptions
from chatd_client.render import STYLE, Fragments, use_colour
from chatd_client.transcript import Transcript


class TerminalDisplay:
    """Lines printed above the prompt, a transfer's bar below it."""

    def __init__(self, colour: bool) -> None:
        # One bit keeps bold and italics for NO_COLOR readers but drops every colour.
        self.color_depth = None if colour else ColorDepth.DEPTH_1_BIT
        self.session: PromptSession[str] = PromptSession(
            history=InMemoryHistory(), style=STYLE, color_depth=self.color_depth,
            input_processors=[MaskPasswords()],
        )

    def server_line(self, raw: str, fragments: Fragments) -> None:
        self._print(fragments)

    def note(self, fragments: Fragments) -> None:
        self._print(fragments)

    def progress(self, text: str | None) -> None:
        # A toolbar of None is no toolbar at all (not an empty bar).
        self.session.bottom_toolbar = None if text is None else FormattedText([("", text)])
        self.session.app.invalidate()  # a no-op between two prompts, redrawn by the next

    def _print(self, fragments: Fragments) -> None:
        print_formatted_text(FormattedText(fragments), style=STYLE,
                             color_depth=self.color_depth)


class MaskPasswords(Processor):
    """Shows each character of a password argument as ``*``, one for one, so the cursor
    stays where the person typed."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        document = ti.document
        start = document.translate_row_col_to_index(ti.lineno, 0)
        line = document.lines[ti.lineno]
        # Past the line's own characters come additions (a placeholder), left alone.
        secret = [index - start for first, end in secret_spans(document.text)
                  for index in range(first, end) if 0 <= index - start < len(line)]
        if not secret:
            return Transformation(ti.fragments)
        fragments = explode_text_fragments(ti.fragments)
        for index in secret:
            style, _, *handler = fragments[index]
            fragments[index] = (style, "*", *handler)  # type: ignore[assignment]
        return Transformation(fragments)


def prompt_fragments(client: Client) -> FormattedText:
    """``[room] name> `` while connected; otherwise whether the client is trying."""
    if not client.connected:
        state = "connecting" if client.waiting else "not connected"
        return FormattedText([("class:client", f"({state})"), ("class:prompt", "> ")])
    room = client.rooms.current
    fragments = [("class:room", f"[{room}] ")] if room else []
    return FormattedText([*fragments, ("class:prompt", f"{client.nick or ''}> ")])


async def run(reactor: Any, options: ClientOptions) -> int:
    """Run the session until /quit or Ctrl-D; return the exit status."""
    display = TerminalDisplay(use_colour(True, os.environ))
    client = Client(reactor, options, client_endpoint(reactor, options), display,
                    Transcript(), stay_on_loss=True)
    if client.udp is not None:
        reactor.listenUDP(0, client.udp)
    session = display.session

    def finished(status: int) -> int:
        # The server hung up after /quit while the prompt waits for input: stop waiting.
        if session.app.is_running:
            session.app.exit(exception=EOFError())
        return status

    client.finished.addCallback(finished)
    loop = asyncio.get_running_loop()
    with patch_stdout(raw=True):
        client.connect()
        while not client.finished.called:
            try:
                line = await session.prompt_async(lambda: prompt_fragments(client))
            except KeyboardInterrupt:
                # Ctrl-C clears the line, as in a shell, and stops reconnecting; Ctrl-D leaves.
                client.interrupt()
                continue
            except EOFError:
                client.quit()
                break
            client.handle_input(line)
            # The prompt shows the room and name the server gave us; every change of them
            # comes with a printed line, which redraws it.
        return await client.finished.asFuture(loop)
