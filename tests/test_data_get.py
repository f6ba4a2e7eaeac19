"""``s2s data get multi30k`` against a local server holding a tiny Multi30k in the real layout: no network.

A success writes the three TSV splits and says where; a checksum mismatch, a missing file and a
cut connection are one-line errors that leave the destination as it was (no partial TSV, no
temporary files, a previous good copy untouched).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seq2seq_cli.data import multi30k
from tests.conftest import run_cli

TINY = {
    "train": (
        ["A man rides a bike.", "Two dogs play.", "A woman\tsings."],
        ["Un homme fait du vélo.", "Deux chiens jouent.", "Une femme chante."],
    ),
    "val": (["A child runs."], ["Un enfant court."]),
    "test_2016_flickr": (["A cat sleeps.", "People walk."], ["Un chat dort.", "Des gens marchent."]),
}
EXPECTED = {
    "train.tsv": "A man rides a bike.\tUn homme fait du vélo.\nTwo dogs play.\tDeux chiens jouent.\n"
    "A woman sings.\tUne femme chante.\n",
    "val.tsv": "A child runs.\tUn enfant court.\n",
    "test2016.tsv": "A cat sleeps.\tUn chat dort.\nPeople walk.\tDes gens marchent.\n",
}
CUT = set()  # paths the server answers with a full Content-Length and then half the bytes


class Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path not in CUT:
            return super().do_GET()
        body = Path(self.directory, self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """The tiny copy served over HTTP on 127.0.0.1, S2S_MULTI30K_URL pointing at it, its sums pinned."""
    raw = tmp_path / "mirror" / "data" / "task1" / "raw"
    raw.mkdir(parents=True)
    sums = {}
    for split, sides in TINY.items():
        for lang, lines in zip(("en", "fr"), sides):
            text = "".join(line + "\n" for line in lines).encode("utf-8")
            (raw / f"{split}.{lang}.gz").write_bytes(gzip.compress(text))
            sums[f"{split}.{lang}"] = hashlib.sha256(text).hexdigest()
    monkeypatch.setattr(multi30k, "SHA256", sums)
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(tmp_path / "mirror")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(multi30k.URL_VARIABLE, f"http://127.0.0.1:{server.server_address[1]}/data/task1/raw")
    yield raw
    server.shutdown()
    server.server_close()
    CUT.clear()


def contents(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_get_writes_the_three_splits_and_says_where(mirror, tmp_path):
    dest = tmp_path / "out" / "multi30k-en-fr"
    result = run_cli("data", "get", "multi30k", "--dest", str(dest))
    assert result.exit_code == 0, result.output
    assert contents(dest) == EXPECTED  # a tab inside a sentence became a space; nothing else in the folder
    assert f"wrote {dest}/" in result.stderr and "train.tsv 3" in result.stderr


def test_the_other_direction_swaps_the_columns(mirror, tmp_path):
    result = run_cli("data", "get", "multi30k", "--langs", "fr-en", "--dest", str(tmp_path / "fr-en"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fr-en" / "val.tsv").read_text(encoding="utf-8") == "Un enfant court.\tA child runs.\n"


def test_a_file_without_a_pinned_sum_is_used_with_a_warning(mirror, tmp_path, monkeypatch):
    monkeypatch.delitem(multi30k.SHA256, "val.fr")
    result = run_cli("data", "get", "multi30k", "--dest", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert "val.fr.gz: no pinned SHA-256 for it, not verified" in result.stderr


def good_copy(tmp_path) -> Path:
    dest = tmp_path / "dest"
    dest.mkdir()
    for name in EXPECTED:
        (dest / name).write_text(f"previous {name}\tcopy\n", encoding="utf-8")
    return dest


def fail(dest: Path, *words: str) -> None:
    """The command fails in one line and ``dest`` holds exactly what it held before."""
    before = contents(dest) if dest.exists() else None
    result = run_cli("data", "get", "multi30k", "--dest", str(dest))
    assert_one_line_error(result, *words)
    assert (contents(dest) if dest.exists() else None) == before


def test_a_checksum_mismatch_writes_nothing(mirror, tmp_path, monkeypatch):
    monkeypatch.setitem(multi30k.SHA256, "test_2016_flickr.fr", "0" * 64)
    fail(good_copy(tmp_path), "test_2016_flickr.fr.gz", "SHA-256", "left as it was")
    fail(tmp_path / "fresh", "not created")


def test_a_missing_file_writes_nothing(mirror, tmp_path):
    (mirror / "val.en.gz").unlink()
    fail(good_copy(tmp_path), "val.en.gz: HTTP 404")
    fail(tmp_path / "fresh")


def test_a_cut_connection_writes_nothing(mirror, tmp_path):
    CUT.add("/data/task1/raw/test_2016_flickr.en.gz")
    fail(good_copy(tmp_path), "test_2016_flickr.en.gz", "connection")
    fail(tmp_path / "fresh")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["wmt16"], ["wmt16", "multi30k"]),
        (["multi30k", "--langs", "en-xx"], ["en-xx", "en, fr, de, cs"]),
        (["multi30k", "--langs", "en-en"], ["en-en", "en, fr, de, cs"]),
        (["multi30k", "--langs", "english"], ["english", "en, fr, de, cs"]),
    ],
)
def test_unknown_data_sets_and_languages_name_the_choices(args, words, tmp_path, monkeypatch):
    monkeypatch.setenv(multi30k.URL_VARIABLE, "http://127.0.0.1:9/never-asked")
    result = run_cli("data", "get", *args, "--dest", str(tmp_path / "d"))
    assert_one_line_error(result, *words)
    assert not (tmp_path / "d").exists()
