"""The cache and run folders are crash-safe: every file written whole or not at all (kill -9 or a full disk
mid-write leaves the old one), a damaged cache entry prepared again, a full disk while preparing a one-line
error, and what an interrupted preparation left removed at the next start, never a build still running.

A full disk is a small tmpfs mounted for the test (CI runs as root; elsewhere those tests skip, saying so).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seq2seq_cli import runs
from seq2seq_cli.cli.common import write_lines
from seq2seq_cli.config import load_config, save_config
from seq2seq_cli.data import cache, cache_work
from seq2seq_cli.data.cache_check import damage
from seq2seq_cli.data.text import Vocab
from seq2seq_cli.errors import S2SError
from seq2seq_cli.viz.page import FORMAT, write_page
from seq2seq_cli.viz.plot import plot_curves
from seq2seq_cli.viz.probes import read_probes
from tests.conftest import ROOT, SEED_PAIRS, run_cli


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` for the test: a disk that really fills up."""
    folder.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated by mounting a small tmpfs, which needs Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is simulated by mounting a small tmpfs, which needs root (CI runs as root): "
                    f"{mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes."""
    stats = os.statvfs(disk)
    ballast = disk / "ballast"
    descriptor = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        os.posix_fallocate(descriptor, 0, max(4096, stats.f_bavail * stats.f_frsize - leave))
    finally:
        os.close(descriptor)
    return ballast


def s2s(*arguments: str, **options) -> subprocess.CompletedProcess:
    """``s2s`` in a process of its own: a crash (SIGBUS) there cannot take the test down."""
    return subprocess.run([sys.executable, "-m", "seq2seq_cli", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **options)


def assert_one_error_line(process: subprocess.CompletedProcess, *fragments: str) -> None:
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), process.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def corpus(folder: Path, pairs: int) -> list[str]:
    """``--set`` arguments for configs/seed.yaml on ``pairs`` generated pairs of four words a side."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"a{i % 50} b{i % 30} c{i % 7} d\tw{i % 40} x{i % 9} y z\n" for i in range(pairs)]
    (folder / "train.tsv").write_text("".join(lines), encoding="utf-8")
    (folder / "val.tsv").write_text("".join(lines[:5]), encoding="utf-8")
    sets = [f"data.train={folder / 'train.tsv'}", f"data.val={folder / 'val.tsv'}", "data.workers=1"]
    return [a for s in sets for a in ("--set", s)]


def build_folders(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.iterdir() if cache_work.WORK.fullmatch(p.name)) if cache_dir.is_dir() else []


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.iterdir() if (p / cache.META).is_file())


# ---------- every file written whole or not at all ----------

OLD = b"the old content\n"
RECORDS = b'{"step": 1}\n{"step": 2}\n'


def copy_models(path: Path) -> None:
    source = path.parent.parent / "models"
    source.mkdir(exist_ok=True)
    for side in ("src", "tgt"):
        (source / f"spm.{side}.model").write_bytes(b"a new model")
    cache.Prepared(source, {}, source, (None, None)).copy_tokenizers(path.parent)


WRITERS = {  # file name -> what writes it anew (the code that writes it in a run folder or the cache)
    "config.yaml": lambda path: save_config(load_config(ROOT / "configs/seed.yaml"), path),
    "vocab.src.txt": lambda path: Vocab([*Vocab.SPECIALS, "new"]).save(path),
    "seed.eval.json": lambda path: write_lines(['{"bleu": 1.0}'], path),
    "seed.hyp.txt": lambda path: write_lines(["une hypothese"], path),
    "explorer.html": lambda path: write_page({"format": FORMAT}, path),
    "state.json": lambda path: runs.write_state(path.parent, {"step": 3}),
    "metrics.jsonl": lambda path: runs.read_metrics(path.parent, up_to_step=1),
    "probes.jsonl": lambda path: read_probes(path.parent, up_to_step=1),
    "curves.png": lambda path: plot_curves([{"step": 1, "train_loss": 2.0, "val_loss": 2.5}], path),
    "spm.src.model": copy_models,
    "last.pt": lambda path: runs.save_checkpoint({"model": {}}, path),
}


def old_file(tmp_path: Path, name: str) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = run_dir / name
    path.write_bytes(RECORDS if name.endswith(".jsonl") else OLD)
    return path


@pytest.mark.parametrize("name", WRITERS)
def test_kill_9_during_each_write_leaves_the_old_file_intact(tmp_path, name):
    """The writer is killed (SIGKILL) at the last moment before its file would change: at the rename."""
    path = old_file(tmp_path, name)
    old = path.read_bytes()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        try:
            os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
            WRITERS[name](path)
        finally:
            os._exit(0)  # reached only by a write that never renames (one in place)
    _, status = os.waitpid(child, 0)
    assert path.read_bytes() == old
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    left = [p.name for p in path.parent.iterdir() if p != path]
    assert len(left) == 1 and left[0].startswith(f".{name}.{child}.")  # the killed write's temporary file...
    assert runs.remove_stale_temporaries(path.parent) and [p.name for p in path.parent.iterdir()] == [name]  # ...cleaned


@pytest.mark.parametrize("name", WRITERS)
def test_a_write_that_fails_is_a_one_line_error_and_keeps_the_old_file(tmp_path, monkeypatch, name):
    path = old_file(tmp_path, name)
    old = path.read_bytes()

    def full_disk(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(S2SError, match=r"No space left on device") as raised:
        WRITERS[name](path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left


def test_a_write_to_a_pipe_or_through_a_link_still_works(tmp_path):
    """An output that cannot be replaced (a FIFO, /dev/stdout) is written in place; a link stays a link."""
    target = tmp_path / "target.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_lines(["new"], link)
    assert link.is_symlink() and target.read_text() == "new\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    write_lines(["through the pipe"], fifo)
    assert reader.communicate(timeout=10)[0] == "through the pipe\n"


# ---------- a damaged cache entry ----------


def _set_array(entry: Path, name: str, index: int, value: int) -> None:
    array = np.load(entry / name, mmap_mode="r+")
    array[index] = value
    array.flush()


def _edit_meta(entry: Path) -> None:
    meta = json.loads((entry / cache.META).read_text())
    (entry / cache.META).write_text(json.dumps({**meta, "pairs": 10**12}))


def _retyped_lengths(entry: Path) -> None:
    """Same bytes, another header: the lengths read as twice as many uint8."""
    lengths = np.load(entry / "src.lengths.npy")
    np.save(entry / "src.lengths.npy", lengths.view(np.uint8))


DAMAGE = {
    "a length of 60,000 (a huge batch)": (lambda e: _set_array(e, "tgt.lengths.npy", 2, 60_000), "tgt.lengths.npy"),
    "an offset past the ids file": (lambda e: _set_array(e, "src.offsets.npy", -1, 10**12), "src.offsets.npy"),
    "the ids file cut short": (lambda e: os.truncate(e / "src.ids.npy", (e / "src.ids.npy").stat().st_size - 2),
                               "src.ids.npy"),
    "meta.json edited": (_edit_meta, "checksum"),
    "meta.json unreadable": (lambda e: (e / cache.META).write_bytes(b"\x00" * 10), "unreadable"),
    "an array with another header": (_retyped_lengths, "src.lengths.npy"),
    "a vocabulary changed": (lambda e: (e / "vocab.tgt.txt").write_text("<pad>\n<sos>\n<eos>\n<unk>\nx\n"),
                             "vocab.tgt.txt"),
    "a file missing": (lambda e: (e / "val.json").unlink(), "val.json: missing"),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_cache_entry_is_prepared_again_with_a_one_line_warning(tmp_path, kind):
    sets = [*corpus(tmp_path / "data", 300), "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    assert run_cli("prepare", "-c", "configs/seed.yaml", *sets).exit_code == 0
    (entry,) = entries(tmp_path / "cache")
    good = {p.name: p.read_bytes() for p in entry.iterdir() if p.name != cache.META}
    spoil, named = DAMAGE[kind]
    spoil(entry)
    assert damage(entry) is not None

    again = run_cli("prepare", "-c", "configs/seed.yaml", *sets)
    assert again.exit_code == 0, again.output
    warnings = [line for line in again.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{entry}: the prepared data is damaged" in warnings[0] and named in warnings[0]
    assert "preparing it again" in warnings[0] and "preparing" in again.stdout
    assert entries(tmp_path / "cache") == [entry] and damage(entry) is None
    assert {p.name: p.read_bytes() for p in entry.iterdir() if p.name != cache.META} == good
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [entry.name]  # nothing left aside


def test_a_good_entry_is_reused_without_a_warning(tmp_path):
    sets = [*corpus(tmp_path / "data", 300), "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    assert run_cli("prepare", "-c", "configs/seed.yaml", *sets).exit_code == 0
    again = run_cli("prepare", "-c", "configs/seed.yaml", *sets)
    assert "prepared once, reused" in again.stdout and "warning" not in again.output


# ---------- a full disk while preparing ----------

def _on_disk(size: int) -> int:
    """What a file of ``size`` bytes takes on a tmpfs: whole pages."""
    page = os.sysconf("SC_PAGE_SIZE")
    return -(-size // page) * page


# 25,000 pairs of 4 + 4 words: first two scratch files of 400,000 bytes and the vocabularies (a page each),
# then per side lengths (50,000 bytes), offsets (200,000) and ids (200,000), each after a 128-byte header.
BEFORE_IDS = 2 * _on_disk(400_000) + 2 * _on_disk(1) + _on_disk(50_128) + _on_disk(200_128)
DISKS = {  # a disk that holds all that comes before the source ids but not them; one too small for the scratch files
    "the ids array cannot be reserved": (BEFORE_IDS + _on_disk(100_000),
                                         "no space left on device (needs 0.2 MB for src.ids.npy)"),
    "the scratch files do not fit": (_on_disk(256_000), "cannot prepare data there (No space left on device)"),
}


@pytest.mark.parametrize("moment", DISKS)
def test_a_full_disk_while_preparing_is_a_one_line_error_and_leaves_nothing(tmp_path, moment):
    size, message = DISKS[moment]
    sets = corpus(tmp_path / "data", 25_000)
    with small_disk(tmp_path / "disk", str(size)) as disk:
        result = s2s("prepare", "-c", "configs/seed.yaml", *sets, "--set", f"data.cache_dir={disk}")
        assert_one_error_line(result, f"{disk}: {message}")  # not SIGBUS (the mapping's pages had no disk behind them)
        assert list(disk.iterdir()) == []  # no entry, no half-written folder


# ---------- what an interrupted preparation leaves ----------


def test_an_interrupted_prepare_is_cleaned_at_the_next_start(tmp_path):
    sets = [*corpus(tmp_path / "data", 200_000), "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    process = subprocess.Popen([sys.executable, "-m", "seq2seq_cli", "prepare", "-c", "configs/seed.yaml", *sets],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not build_folders(tmp_path / "cache") and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    process.kill()
    process.wait()
    (orphan,) = build_folders(tmp_path / "cache")
    assert not (orphan / cache.META).exists() and entries(tmp_path / "cache") == []  # never read as prepared

    again = run_cli("prepare", "-c", "configs/seed.yaml", *sets)
    assert again.exit_code == 0, again.output
    assert not orphan.exists() and build_folders(tmp_path / "cache") == [] and len(entries(tmp_path / "cache")) == 1


HOLD_A_BUILD = """
import sys, time
from pathlib import Path
from seq2seq_cli.data.cache_work import start_work
work = start_work(Path(sys.argv[1]) / ("0" * 20))
print(work.path, flush=True)
time.sleep(600)
"""


def test_a_build_another_process_is_running_is_never_cleaned(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    builder = subprocess.Popen([sys.executable, "-c", HOLD_A_BUILD, str(root)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        live = Path(builder.stdout.readline().strip())
        assert cache_work.clean_orphans(root) == [] and live.is_dir()
        assert cache_work.is_live_build(live)
        from seq2seq_cli.data.catalogue import clear_cache

        assert clear_cache(root)[0] == 0 and live.is_dir()  # s2s cache clear leaves it too
    finally:
        builder.kill()
        builder.wait()
    assert cache_work.clean_orphans(root) == [live] and not live.exists()  # its builder is gone: now it goes


def test_a_build_folder_without_a_lock_goes_only_when_old(tmp_path):
    """One made by an older s2s, or a builder killed between making the folder and locking it."""
    root = tmp_path / "cache"
    young, old = root / f".{'1' * 20}-abcdefgh", root / f".{'2' * 20}-abcdefgh"
    for folder in (young, old):
        folder.mkdir(parents=True)
        (folder / "scratch.src.u32").write_bytes(b"1234")
    os.utime(old, (time.time() - 2 * cache_work.UNLOCKED_AGE,) * 2)
    assert cache_work.clean_orphans(root) == [old] and young.is_dir()


def test_two_prepares_at_once_both_succeed_with_one_entry(tmp_path):
    """The second starts while the first builds: it cleans nothing of the first's, and one rename wins."""
    sets = [*corpus(tmp_path / "data", 100_000), "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    command = [sys.executable, "-m", "seq2seq_cli", "prepare", "-c", "configs/seed.yaml", *sets]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not build_folders(tmp_path / "cache") and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=300) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err
        assert "ready:" in out
    assert len(entries(tmp_path / "cache")) == 1 and build_folders(tmp_path / "cache") == []


def test_the_cache_is_prepared_from_the_seed_pairs_as_before(tmp_path):
    """The checks cost nothing visible: five pairs prepared, sealed and reopened."""
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in SEED_PAIRS), encoding="utf-8")
    config = load_config(ROOT / "configs/seed.yaml", [f"data.train={data}", f"data.val={data}",
                                                     f"data.cache_dir={tmp_path / 'cache'}"])
    from rich.console import Console

    prepared = cache.prepare(config, Console(quiet=True))
    assert damage(prepared.folder) is None and len(prepared.training_data().train) == 5
    assert set(prepared.meta["files"]) == {p.name for p in prepared.folder.iterdir()} - {cache.META}
