"""``s2s cache list`` and ``s2s cache clear``: the prepared-data cache, seen and emptied."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from seq2seq_cli.cli.app import app
from seq2seq_cli.cli.common import stderr, stdout, user_errors

cache_app = typer.Typer(
    help="The prepared-data cache (by default the user cache folder; $S2S_CACHE_DIR or data.cache_dir move it).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(
    cache_app, name="cache", help="List or clear the prepared-data cache ([bold]s2s prepare[/] and [bold]train[/] fill it)."
)

CacheDirOption = Annotated[
    Optional[Path], typer.Option("--cache-dir", help="The cache folder. [default: $S2S_CACHE_DIR, else the user cache folder]")
]
CacheJsonOption = Annotated[bool, typer.Option("--json", help="One JSON list of the entries instead of a table.")]


@cache_app.command("list")
def list_cache(cache_dir: CacheDirOption = None, as_json: CacheJsonOption = False) -> None:
    """The prepared corpora: folder, pairs, size, when, and the data files each was made from."""
    with user_errors():
        import json

        from seq2seq_cli.catalog import human_size
        from seq2seq_cli.data.cache import cache_root
        from seq2seq_cli.data.catalogue import cache_entries

        root = cache_dir or cache_root()
        entries = cache_entries(root)
        if as_json:
            return typer.echo(json.dumps([entry.as_dict() for entry in entries], indent=2))
        if not entries:
            return stderr().print(f"the cache {root}/ is empty", markup=False)
        from rich.table import Table

        table = Table(title=f"{len(entries)} prepared corpora in {root}/ ({human_size(sum(e.size_bytes for e in entries))})")
        for column in ("entry", "pairs", "size", "created", "data"):
            table.add_column(column)
        for e in entries:
            pairs = f"{e.pairs:,}" if e.pairs is not None else "unfinished"
            table.add_row(e.folder.name, pairs, human_size(e.size_bytes), e.created, ", ".join(e.data))
        stdout().print(table)


@cache_app.command("clear")
def clear(cache_dir: CacheDirOption = None) -> None:
    """Remove every prepared corpus (the next [bold]s2s train[/] prepares its data again)."""
    with user_errors():
        from seq2seq_cli.catalog import human_size
        from seq2seq_cli.data.cache import cache_root
        from seq2seq_cli.data.catalogue import clear_cache

        root = cache_dir or cache_root()
        count, freed = clear_cache(root)
        stderr().print(f"removed {count} prepared corpora from {root}/, freeing {human_size(freed)}", markup=False)

