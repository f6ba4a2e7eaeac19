"""``s2s data get multi30k``: download a public data set into the TSV splits the configs read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import stderr, user_errors, warn

data_app = typer.Typer(
    help="Public data sets: download, check and convert them into TSV splits.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(
    data_app, name="data", help="Get public data sets: [bold]s2s data get multi30k[/] (the only command that uses the network)."
)

DatasetArgument = Annotated[str, typer.Argument(help="The data set: multi30k.", show_default=False)]
LangsOption = Annotated[str, typer.Option("--langs", help="SOURCE-TARGET, two of en, fr, de, cs.")]
DestOption = Annotated[
    Optional[Path],
    typer.Option("--dest", help="Folder for train.tsv, val.tsv, test2016.tsv.", show_default="data/multi30k-SRC-TGT"),
]


@data_app.command("get")
def get(dataset: DatasetArgument, langs: LangsOption = "en-fr", dest: DestOption = None) -> None:
    """Download Multi30k (task 1, from github.com/multi30k/dataset), check its SHA-256 sums, write TSV splits."""
    with user_errors():
        from seq2seq_cli.data.multi30k import get as get_dataset

        console = stderr()
        fetched = get_dataset(dataset, langs, dest, console)
        for name in fetched.unverified:
            warn(f"{name}: no pinned SHA-256 for it, not verified")
        counts = ", ".join(f"{name} {pairs:,}" for name, pairs in fetched.pairs.items())
        console.print(f"wrote {fetched.dest}/: {counts} pairs ({fetched.source}<TAB>{fetched.target})")
        console.print("Multi30k's captions come from Flickr30k: for non-commercial research and teaching only.")
