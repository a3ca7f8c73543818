"""The interactive client: a prompt_toolkit prompt on the same asyncio loop as Twisted.

Incoming lines are printed with ``print_formatted_text``, which, while the prompt runs, erases
it, prints above, and redraws it with the half-typed line intact; ``patch_stdout`` does the
same for any stray write to stdout. History is kept in memory only, since typed lines include
passwords.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.patch_stdout import patch_stdout

from chatd_client.client import Client
from chatd_client.connection import client_endpoint
from chatd_client.options import ClientOptions
from chatd_client.render import STYLE, Fragments, use_colour
from chatd_client.transcript import Transcript


class TerminalDisplay:
    def __init__(self, colour: bool) -> None:
        # One bit keeps bold and italics for NO_COLOR readers but drops every colour.
        self.color_depth = None if colour else ColorDepth.DEPTH_1_BIT

    def server_line(self, raw: str, fragments: Fragments) -> None:
        self._print(fragments)

    def note(self, fragments: Fragments) -> None:
        self._print(fragments)

    def _print(self, fragments: Fragments) -> None:
        print_formatted_text(FormattedText(fragments), style=STYLE,
                             color_depth=self.color_depth)


async def run(reactor: Any, options: ClientOptions) -> int:
    """Run the session until /quit or Ctrl-D; return the exit status."""
    display = TerminalDisplay(use_colour(True, os.environ))
    client = Client(reactor, options, client_endpoint(reactor, options), display,
                    Transcript(), stay_on_loss=True)
    session: PromptSession[str] = PromptSession(
        history=InMemoryHistory(), style=STYLE, color_depth=display.color_depth
    )

    def prompt() -> FormattedText:
        return FormattedText([("class:prompt", f"{client.nick or ''}> ")])

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
                line = await session.prompt_async(prompt)
            except KeyboardInterrupt:
                continue  # Ctrl-C clears the line, as in a shell; Ctrl-D leaves.
            except EOFError:
                client.quit()
                break
            client.handle_input(line)
            # The prompt shows the name the server gave us; redraw it with the next line.
        return await client.finished.asFuture(loop)
