"""Multi30k from its public repository into the TSV splits the configs read (``s2s data get multi30k``).

The one place in s2s that uses the network, and only when asked. It downloads task 1's raw files,
``{train,val,test_2016_flickr}.{LANG}.gz`` from github.com/multi30k/dataset (``data/task1/raw``),
checks each file's decompressed text against a pinned SHA-256, and writes ``train.tsv``, ``val.tsv``
and ``test2016.tsv`` (``source<TAB>target``, one pair a line, UTF-8). Everything is fetched, checked
and written into a temporary folder inside the destination first; only then do the three files
replace what was there, so a failure leaves the destination as it was.

``S2S_MULTI30K_URL`` replaces the base URL (a mirror, or the tests' local server).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from seq2seq_cli.errors import DataError

DATASETS = ("multi30k",)
BASE_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
URL_VARIABLE = "S2S_MULTI30K_URL"
LANGUAGES = ("en", "fr", "de", "cs")
SPLITS = {"train.tsv": "train", "val.tsv": "val", "test2016.tsv": "test_2016_flickr"}  # our file: theirs
TIMEOUT = 60  # seconds without a byte before giving up
CHUNK = 64 * 1024
# SHA-256 of each file's decompressed text (so a re-compression upstream changes nothing), computed from
# multi30k/dataset at commit a3d2e0d26b56f3846f66a952536ffed4e401d05a. A file missing here is used unverified.
SHA256 = {
    "train.en": "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6",
    "train.fr": "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d",
    "train.de": "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72",
    "train.cs": "2be68b38c8d586ff4f54eb13cc6e1baaaa053695b3f070d3038303a47f2268da",
    "val.en": "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227",
    "val.fr": "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc",
    "val.de": "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660",
    "val.cs": "d53827e469b0a1ca8d57e9e26b2b64c4bc4b33f5479c7b03ae87ae5c882c3e33",
    "test_2016_flickr.en": "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182",
    "test_2016_flickr.fr": "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6",
    "test_2016_flickr.de": "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16",
    "test_2016_flickr.cs": "45adb85f688de8407fddcbe1b36dca15d12aab868149b337e2576f2d6d2ff8d8",
}


@dataclass
class Fetched:
    """What ``get`` wrote: the folder, pairs per file, the languages, and any file it could not verify."""

    dest: Path
    pairs: dict[str, int]
    source: str
    target: str
    unverified: list[str] = field(default_factory=list)


def default_dest(source: str, target: str) -> Path:
    return Path("data") / f"multi30k-{source}-{target}"


def language_pair(langs: str) -> tuple[str, str]:
    """``en-fr`` as ``("en", "fr")``; anything else is a one-line error naming the choices."""
    source, _, target = langs.partition("-")
    if source not in LANGUAGES or target not in LANGUAGES or source == target:
        choices = ", ".join(LANGUAGES)
        raise DataError(f"--langs {langs}: give SOURCE-TARGET, two different languages of {choices} (e.g. en-fr)")
    return source, target


def get(dataset: str, langs: str = "en-fr", dest: Path | None = None, console=None) -> Fetched:
    """Download, check and convert ``dataset`` into ``dest`` (default ``data/multi30k-SRC-TGT``)."""
    if dataset not in DATASETS:
        raise DataError(f"unknown data set {dataset!r}: choose {', '.join(DATASETS)}")
    source, target = language_pair(langs)
    dest = dest if dest is not None else default_dest(source, target)
    fetched = Fetched(dest, {}, source, target)
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".multi30k-", dir=dest))
    except OSError as exc:
        raise DataError(f"{dest}: cannot write there ({exc.strerror})") from None
    try:
        _fetch_into(work, fetched, console)
        for name in SPLITS:
            os.replace(work / name, dest / name)
    except (DataError, OSError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            _remove_empty(dest)
        message = f"{dest}: cannot write ({exc.strerror})" if isinstance(exc, OSError) else str(exc)
        raise DataError(f"{message}; {dest} {'not created' if created else 'left as it was'}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return fetched


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty after all: leave it


def _fetch_into(work: Path, fetched: Fetched, console) -> None:
    """Every split's two files downloaded and checked, then written as TSV into ``work``."""
    base = os.environ.get(URL_VARIABLE, BASE_URL).rstrip("/")
    names = [f"{split}.{lang}" for split in SPLITS.values() for lang in (fetched.source, fetched.target)]
    with _progress(console) as progress:
        texts = {name: _download(f"{base}/{name}.gz", progress) for name in names}
    for name, text in texts.items():
        expected = SHA256.get(name)
        if expected is None:
            fetched.unverified.append(f"{name}.gz")
        elif hashlib.sha256(text).hexdigest() != expected:
            raise DataError(f"{base}/{name}.gz: its text does not match the pinned SHA-256 (changed upstream, or corrupted)")
    for ours, theirs in SPLITS.items():
        sources = _lines(texts[f"{theirs}.{fetched.source}"], f"{theirs}.{fetched.source}.gz")
        targets = _lines(texts[f"{theirs}.{fetched.target}"], f"{theirs}.{fetched.target}.gz")
        if len(sources) != len(targets):
            raise DataError(f"{theirs}: {len(sources):,} {fetched.source} lines but {len(targets):,} {fetched.target} lines")
        (work / ours).write_text("".join(f"{s}\t{t}\n" for s, t in zip(sources, targets)), encoding="utf-8", newline="\n")
        fetched.pairs[ours] = len(sources)


def _download(url: str, progress) -> bytes:
    """The decompressed bytes of the gzip file at ``url``; any failure is a one-line ``DataError``."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected and expected.isdigit() else None
            task = progress.add_task(url.rsplit("/", 1)[-1], total=total)
            chunks = []
            while chunk := response.read(CHUNK):
                chunks.append(chunk)
                progress.advance(task, len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: cannot reach it ({exc.reason})") from None
    except TimeoutError:
        raise DataError(f"{url}: no answer for {TIMEOUT} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DataError(f"{url}: the connection broke ({exc.__class__.__name__})") from None
    body = b"".join(chunks)
    if total is not None and len(body) != total:
        raise DataError(f"{url}: the connection closed after {len(body):,} of {total:,} bytes")
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error):
        raise DataError(f"{url}: not a complete gzip file") from None


def _lines(text: bytes, name: str) -> list[str]:
    """The file's lines; a tab inside a sentence (one in train.de) becomes a space, so the TSV keeps two columns."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not valid UTF-8 (byte {exc.start})") from None
    lines = decoded.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r").replace("\t", " ") for line in lines]


def _progress(console):
    """One bar per file: bytes, speed, time left (off when the console is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    console = console if console is not None else Console(stderr=True)
    return Progress(TextColumn("{task.description:<24}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal)
