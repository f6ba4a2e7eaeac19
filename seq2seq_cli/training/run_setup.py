"""Everything before the first update: a new run folder (its data prepared, its model built or started
from a parent run, its config and vocabularies saved), or an interrupted run reopened for ``--resume``.

A run that never started leaves no folder behind (``removed_on_error``), one process at a time trains
a run (``held``), and the torch thread count a run trains with is set for it and restored afterwards
(``threads``): all are the front doors' in ``trainer.py``, which hands what is set up here (a ``Start``)
to its ``Trainer``.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from seq2seq_cli import runs
from seq2seq_cli.config import Config, save_config
from seq2seq_cli.data import cache
from seq2seq_cli.data.prepare import TrainingData, check_fingerprints
from seq2seq_cli.data.text import load_vocabs
from seq2seq_cli.errors import RunError, S2SError
from seq2seq_cli.models.seq2seq import Seq2Seq, build_model
from seq2seq_cli.system import Context
from seq2seq_cli.training import finetune, report


@dataclass
class Start:
    """What a run trains from: its data, its model (fresh, fine-tuned or resumed), its folder, and the
    fingerprint of data.train and data.val that ``--resume`` checks."""

    data: TrainingData
    model: Seq2Seq
    run_dir: Path
    data_files: dict | None


def new_run(config: Config, name: str, console: Console, context: Context) -> Start:
    """A new run folder for ``config``, with its model ready to train; every check that can fail comes
    before the folder is made, or removes it."""
    parent = finetune.load_parent(config, console) if config.train.init_from else None  # checked before any folder
    given = cache.Given(parent.vocabs, parent.run_dir) if parent else None  # fine-tuning: the parent's words
    prepared = cache.prepare(config, console, context, given)  # once, cached: a bad line stops it before any folder
    data_files = prepared.data_files(config)
    run_dir = context.from_main(runs.create_run_dir(config.train.runs_dir, name) if context.is_main else None)
    with removed_on_error(run_dir, context):  # a run that never started leaves no folder behind
        if context.is_main:
            prepared.copy_tokenizers(run_dir)  # the run folder translates without the cache
        data = prepared.training_data()
        model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
        if parent:
            parent.start(model)
        frozen = finetune.freeze(model, config.train.freeze)
        if context.is_main:  # a full disk here is an error, and leaves no folder behind either
            save_config(config, run_dir / runs.CONFIG_FILE)
            data.src_vocab.save(run_dir / runs.SOURCE_VOCAB)
            data.tgt_vocab.save(run_dir / runs.TARGET_VOCAB)
    console.print(report.summary_table(data, model, run_dir))
    if parent:
        parent.report(console, prepared.meta["unknown"])
    if frozen:
        console.print(frozen, markup=False)
    return Start(data, model, run_dir, data_files)


def resumable_checkpoint(run_dir: Path) -> dict:
    """The run's ``last`` checkpoint, when it holds training state that has not finished."""
    checkpoint = runs.load_checkpoint(run_dir / runs.LAST)
    if "trainer" not in checkpoint:
        raise RunError(f"{run_dir / runs.LAST}: holds no training state to resume from")
    if checkpoint["trainer"]["finished"]:
        raise RunError(f"{run_dir}: training already finished ({checkpoint['trainer']['stop_reason']})")
    return checkpoint


def reopened_run(run_dir: Path, config: Config, checkpoint: dict, console: Console, context: Context) -> Start:
    """The interrupted run's data (checked to be the files it started with) and its model as last saved."""
    data_files = checkpoint["trainer"].get("data_files")
    if data_files is None:
        console.print(
            f"[yellow]warning:[/] {run_dir} was saved without a fingerprint of its data files: "
            "cannot check that data.train and data.val are the ones the run started with"
        )
    else:
        check_fingerprints(data_files, config)
    given = cache.Given(load_vocabs(run_dir), run_dir, resuming=True)  # the run's own words and tokenisers
    data = cache.prepare(config, console, context, given).training_data()
    model = build_model(config.model, len(data.src_vocab), len(data.tgt_vocab), config.data.max_len)
    model.load_state_dict(checkpoint["model"])
    finetune.freeze(model, config.train.freeze)  # before the optimizer: its saved state covers the trained ones
    return Start(data, model, run_dir, data_files)


@contextlib.contextmanager
def held(run_dir: Path, main: bool):
    """The process that writes the run (rank 0) holds its lock while it trains: a second trainer of the same
    run is refused (``runs.lock_run``); temporary files a killed trainer left behind are removed first."""
    if not main:  # under torchrun the other processes write nothing
        yield
        return
    with runs.lock_run(run_dir):
        runs.remove_stale_temporaries(run_dir)
        yield


@contextlib.contextmanager
def removed_on_error(run_dir: Path, context: Context, errors: type[S2SError] = S2SError):
    """A run that never started (or trained nothing) leaves no folder behind."""
    try:
        yield
    except errors:
        if context.is_main:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


@contextlib.contextmanager
def threads(count: int):
    """torch's intra-op thread count for one run (0: leave torch's default), restored afterwards.

    A reduction split over 2 threads rounds differently from one over 1, so the count is part
    of what makes a run reproducible; a library call must not leave it changed for its caller.
    """
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
