"""What every command does the same way: one-line user errors, warnings, writing lines, decode settings."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

from seq2seq_cli.errors import S2SError


def stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``S2SError`` into one red line on stderr and exit code 2 (no traceback)."""
    try:
        yield
    except BrokenPipeError:  # `s2s translate --input big.txt | head`: the reader has all it wants
        _quiet_stdout()
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        stderr().print("[yellow]stopped:[/] interrupted")
        raise typer.Exit(130) from None
    except S2SError as exc:
        from rich.markup import escape

        colour = "red" if exc.label == "error" else "yellow"
        stderr().print(f"[{colour}]{exc.label}:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit finds no closed pipe
    (and prints nothing), as ``cat`` and ``sacrebleu`` end quietly when their reader goes."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def pick_run(run: Optional[str], runs_dir: Path, need_checkpoint: bool = True) -> Path:
    """The run named, or the newest; when that was a choice among several, stderr says which."""
    from seq2seq_cli.runs import find_run, trained_runs

    chosen = find_run(run, runs_dir, need_checkpoint)
    if run is None:
        count = len(trained_runs(runs_dir, need_checkpoint))
        if count > 1:
            stderr().print(f"using {chosen}, the newest of {count} runs in {runs_dir}/ (--run chooses another)", markup=False)
    return chosen


def renamed(new_value, old_value, new: str, old: str):
    """An option's value under its one spelling; the old spelling still works for this release, with a warning."""
    if old_value is None or old_value is False:
        return new_value
    if new_value not in (None, False):
        raise S2SError(f"{old} is the old spelling of {new}: give one of them")
    warn(f"{old} is deprecated and will be removed in the next release: use {new}")
    return old_value


def warn(message: str) -> None:
    from rich.markup import escape

    stderr().print(f"[yellow]warning:[/] {escape(message)}")


def input_lines(text: Optional[str], input_file: Optional[Path]) -> list[str]:
    """A sentence, ``-`` for stdin's lines, or a UTF-8 file's lines."""
    if text is not None and input_file is not None:
        raise S2SError("give a sentence or --input FILE, not both")
    if input_file is not None:
        try:
            return input_file.read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            raise S2SError(f"{input_file}: no such file") from None
        except UnicodeDecodeError as exc:
            raise S2SError(f"{input_file}: not valid UTF-8 (byte {exc.start})") from None
    if text == "-":
        return sys.stdin.read().splitlines()
    if text is None:
        raise S2SError("nothing to translate: give a sentence, - for stdin, or --input FILE")
    return [text]


def write_lines(lines: list[str], output_file: Optional[Path]) -> None:
    """Lines to stdout, or to a file whole or not at all (an existing file stays as it was until the new one is
    complete: a crash or a full disk never leaves half of ``eval.json`` or of the hypotheses)."""
    from seq2seq_cli.runs import write_text_atomically

    text = "".join(line + "\n" for line in lines)
    if output_file is None:
        sys.stdout.write(text)
        return
    write_text_atomically(output_file, text)


def with_decoding(translator, beam: Optional[int], length_penalty: Optional[float], **more):
    """The translator with the command line's decode settings; a length penalty greedy search ignores is a warning."""
    translator = translator.with_decoding(beam_size=beam, length_penalty=length_penalty, **more)
    decode = translator.config.decode
    if length_penalty is not None and decode.beam_size == 1 and decode.n_best == 1:
        warn("--length-penalty does nothing with greedy search (beam 1): give --beam 2 or more")
    return translator


def open_translator(run: Optional[str], runs_dir: Path, checkpoint: Optional[str], device: str, ensemble: Optional[list[str]],
                    per_model: bool = False):
    """The translator a command decodes with and the run folder its outputs go to: one run, or with
    ``--ensemble`` several averaged through the one search (their outputs go to the first member's folder);
    ``per_model``: the ensemble's attention keeps each member's map."""
    from seq2seq_cli.decoding.translator import Translator

    if not ensemble:
        run_dir = pick_run(run, runs_dir)
        return Translator.from_run(run_dir, checkpoint, device), run_dir
    if run is not None:
        raise S2SError("--ensemble names every model: drop --run (or give it as one more --ensemble)")
    if checkpoint is not None:
        raise S2SError("--ensemble names each member's checkpoint (RUN:CHECKPOINT): drop --checkpoint")
    from seq2seq_cli.decoding.ensemble import Member, load_ensemble

    members = [Member.parse(spec, runs_dir) for spec in ensemble]
    return load_ensemble(members, device, per_model), members[0].run_dir


def with_prefix(translator, prefix: Optional[str]):
    """The translator forcing ``--prefix``; prefix words the target vocabulary lacks are a warning (they are
    forced as ``<unk>``)."""
    if prefix is None:
        return translator
    translator = translator.with_prefix(prefix)
    unknown = translator.tgt_vocab.unknown(translator.tgt_tokenizer.tokens(prefix))
    if unknown:
        warn(f"--prefix: words the model never produces, forced as <unk>: {', '.join(unknown)}")
    return translator


def with_engine(translator, run_dir: Path, engine: str, checkpoint: Optional[str], ensemble: Optional[list[str]] = None):
    """The translator unchanged for torch; for onnx / onnx-int8 its search runs the run's exported graphs."""
    if engine == "torch":
        return translator
    if ensemble:
        raise S2SError(f"--engine {engine} runs one exported model: an --ensemble decodes with torch")
    from seq2seq_cli.decoding.export import with_engine as onnx_engine

    return onnx_engine(translator, run_dir, engine, checkpoint)
