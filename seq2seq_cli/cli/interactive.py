"""The interactive prompt: type a sentence, see its translation (and its attention) at once.

The model loads once; earlier sentences come back with the arrow keys (readline history, kept
between sessions in ``$XDG_STATE_HOME/s2s/history``). A bad sentence is reported and the prompt
stays: an error here never ends the session, only Ctrl-D (or ``:q``) does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.markup import escape

from seq2seq_cli.errors import S2SError

PROMPT = "s2s> "
HISTORY_LINES = 1000


def history_path() -> Path:
    """Where the prompt's history lives between sessions (the XDG state folder)."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "s2s" / "history"


def prompt_loop(translator, attend: bool = False, nbest: int = 1, ask: Callable[[str], str] = input,
                console: Optional[Console] = None, on_long: str = "fail") -> None:
    """Read sentences until end of input; print each one's translations (and attention map). A sentence too
    long for the model is an error line, or (``on_long``: crop) cropped with a warning."""
    console = console or Console(highlight=False, soft_wrap=True)
    history = _History(history_path())
    console.print(f"[dim]{_greeting(translator, attend)}[/]")
    try:
        while True:
            try:
                line = ask(PROMPT)
            except EOFError:
                console.print()
                return
            except KeyboardInterrupt:  # as in a shell: Ctrl-C drops the line being typed, Ctrl-D quits
                console.print()
                continue
            if line.strip() in (":q", ":quit", "exit"):
                return
            if line.strip():
                history.add(line)
                _answer(translator, line, attend, nbest, console, on_long)
    finally:
        history.save()


def _greeting(translator, attend: bool) -> str:
    model = translator.config.model
    what = f"{model.type} {model.attention}" if model.type == "gru" else f"{model.type} {model.layers}x{model.heads}"
    return (f"{what}, beam {translator.config.decode.beam_size}{', attention shown' if attend else ''}: "
            "type a sentence and press Enter; Ctrl-D or :q quits, arrow keys recall earlier sentences")


def _answer(translator, line: str, attend: bool, nbest: int, console: Console, on_long: str = "fail") -> None:
    """One sentence's translations; a sentence the model cannot take is an error line, and the prompt goes on."""
    from seq2seq_cli.decoding.lines import translate_lines

    try:
        candidates = translate_lines(translator, [line], _warner(console), keep_blank=False, on_long=on_long)[0]
    except S2SError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return
    if candidates is None:  # skipped (--on-long skip): the warning said why
        return
    for rank, translation in enumerate(candidates, 1):
        score = f"  [dim]({translation.score:.3f})[/]" if nbest > 1 else ""
        console.print(f"{f'{rank}. ' if nbest > 1 else ''}[bold]{escape(translation.text)}[/]{score}")
    if attend:
        from seq2seq_cli.viz.plot import attention_table, chosen_map

        shown = candidates[0].by_words()
        weights, title = chosen_map(shown, None, None)
        console.print(attention_table(shown.source, shown.steps, weights, title))


def _warner(console: Console) -> Callable[[str], None]:
    return lambda message: console.print(f"[yellow]warning:[/] {escape(message)}")


class _History:
    """readline's history, loaded from and saved to a file; nothing at all where readline is missing."""

    def __init__(self, path: Path):
        self.path = path
        try:
            import readline
        except ImportError:  # Windows without pyreadline: the prompt still works, without history
            self.readline = None
            return
        self.readline = readline
        readline.set_history_length(HISTORY_LINES)
        if path.is_file():
            try:
                readline.read_history_file(path)
            except OSError:
                pass  # an unreadable history is no reason to refuse to translate

    def add(self, line: str) -> None:
        # input() records lines itself only on a terminal; added here, piped sessions keep a history too
        if self.readline is not None:
            last = self.readline.get_current_history_length()
            if not last or self.readline.get_history_item(last) != line:
                self.readline.add_history(line)

    def save(self) -> None:
        if self.readline is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.readline.write_history_file(self.path)
        except OSError:
            pass  # a read-only home loses the history, not the translations
