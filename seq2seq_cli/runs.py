"""Run folders: create them, find the newest, write checkpoints atomically, load them safely.

A run folder describes itself: the resolved config, both vocabularies and the weights are
all that translating needs; nothing points back at the training data (only ``--resume``
checks, by the fingerprint in ``last.pt``, that it still reads the same files).

Every file written into a run folder (or the prepared cache) is written whole or not at all
(``replaced_atomically``), and one process at a time trains a run (``lock_run``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seq2seq_cli.errors import RunError

CONFIG_FILE = "config.yaml"
SOURCE_VOCAB = "vocab.src.txt"
TARGET_VOCAB = "vocab.tgt.txt"
BEST = "best.pt"
LAST = "last.pt"
METRICS = "metrics.jsonl"
PROBES = "probes.jsonl"  # the probe sentences' attention at every validation (``s2s attend --over-training``)
CHECKPOINT_FORMAT = 1  # bumped whenever what a checkpoint holds changes incompatibly
CURVES = "curves.png"
STATE = "state.json"  # where training stands (step, finished, why it stopped), for tools that should not load last.pt
DEFAULT = "default.json"  # which checkpoint translate and evaluate read without --checkpoint (``s2s average`` writes it)
LOCK = ".lock"  # held (flock) by the one process training the run; holds its pid
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.tmp")  # what an atomic write writes before its rename


def ranked_checkpoint(step: int) -> str:
    """File name of one of the best-N checkpoints (``train.keep_best``)."""
    return f"best-step{step}.pt"


def step_checkpoint(step: int) -> str:
    """File name of one of the last-N validations' checkpoints (``train.keep_last``)."""
    return f"step{step}.pt"


def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """A new folder ``runs_dir/name``, or ``name-2``, ``name-3``... so no earlier run is touched."""
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 10_000):
            candidate = runs_dir / (name if attempt == 1 else f"{name}-{attempt}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunError(f"{runs_dir}: cannot create a run folder ({exc.strerror})") from None
    raise RunError(f"{runs_dir}: too many runs named {name}")


def find_run(run: str | None, runs_dir: str | Path, need_checkpoint: bool = True) -> Path:
    """The run folder ``run`` names (a path, or a name inside ``runs_dir``), or the newest one."""
    runs_dir = Path(runs_dir)
    if run is None:
        return newest_run(runs_dir, need_checkpoint)
    for candidate in (Path(run), runs_dir / run):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise RunError(f"{run}: no such run (looked for {run}/{CONFIG_FILE} and {runs_dir / run}/{CONFIG_FILE})")


def trained_runs(runs_dir: Path, need_checkpoint: bool = True) -> list[Path]:
    """The run folders in ``runs_dir`` (those with a checkpoint to use, when asked)."""
    return [d for d in Path(runs_dir).glob("*/") if (d / CONFIG_FILE).is_file() and (not need_checkpoint or (d / BEST).is_file())]


def newest_run(runs_dir: Path, need_checkpoint: bool = True) -> Path:
    """The run that most recently started training (and has a checkpoint to use, when asked)."""
    runs = trained_runs(runs_dir, need_checkpoint)
    if not runs:
        raise RunError(f"no trained runs in {runs_dir}/ yet: train one first with s2s train --config CONFIG")
    return max(runs, key=lambda d: ((d / CONFIG_FILE).stat().st_mtime_ns, d.name))


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old checkpoint or the new one, never half of one.
    """
    import torch

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            sink = _Sink(handle)
            try:
                torch.save({**payload, "format": CHECKPOINT_FORMAT}, sink)
            except RuntimeError:  # torch's zip writer reports a failed write (a full disk) as its own error
                if sink.error is None:
                    raise
            if sink.error is not None:
                raise sink.error
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    except OSError as exc:
        raise RunError(f"{path}: could not save checkpoint ({exc.strerror}); the previous one is intact") from None
    finally:
        temporary.unlink(missing_ok=True)  # gone after the rename; after an error, no half file is left


class _Sink:
    """The file ``torch.save`` writes to, keeping the first ``OSError`` a write raised (torch hides it)."""

    def __init__(self, handle: Any):
        self.handle, self.error = handle, None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file whole or not at all: a reader (or a crash at any moment) never sees half of it."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """``write_text_atomically`` for bytes (a sentencepiece model copied into a run folder)."""
    with replaced_atomically(path) as temporary, open(temporary, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; once written it is fsynced and renamed over ``path``, so
    ``path`` holds the old content or the new, never a mix. An error (or a crash) leaves the old file as it was.

    A pipe or a device (``--output /dev/stdout``) cannot be replaced: it is written in place; a symbolic link
    stays one, the file it points at is replaced.
    """
    target = path.resolve() if path.is_symlink() else path
    if target.exists() and not target.is_file():
        with _as_write_error(path):
            yield path
        return
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with _as_write_error(path):
            yield temporary
            fsync_file(temporary)
            with contextlib.suppress(OSError):
                os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))  # a replaced file keeps its permissions
            os.replace(temporary, target)
            _fsync_directory(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _as_write_error(path: Path) -> Iterator[None]:
    """An ``OSError`` as the one-line error naming the file that could not be written."""
    try:
        yield
    except OSError as exc:
        raise RunError(f"{path}: cannot write ({exc.strerror or exc})") from None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files that a killed process's atomic writes left in ``folder`` (only those whose process
    is gone: another one's write in progress is never touched)."""
    removed = []
    for path in folder.glob(".*.tmp"):
        match = _TEMPORARY.fullmatch(path.name)
        if match and not process_alive(int(match["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal exists too)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would end the process: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class RunLock:
    """The run's ``.lock``, held (``flock``) for as long as one process trains the run. The kernel drops it when
    that process ends, however it ends (kill -9 included), so a lock is never left behind by a crash."""

    def __init__(self, descriptor: int | None):
        self.descriptor = descriptor

    def release(self) -> None:
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.descriptor, 0)  # no pid left behind to mislead
            os.close(self.descriptor)
            self.descriptor = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def lock_run(run_dir: Path) -> RunLock:
    """Hold the run for training: a second trainer of the same run (``--resume`` twice, or a resume while the
    run is still training) is refused, naming the holder's pid; what it would overwrite stays as it is."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one trainer a run is then the user's to keep
        return RunLock(None)
    path = run_dir / LOCK
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(f"{path}: cannot lock the run ({exc.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise RunError(f"{run_dir}: another s2s process (pid {lock_holder(run_dir) or 'unknown'}) is training "
                       "this run; wait for it to end or stop it, then resume") from None
    except OSError:  # a file system without locks (some network mounts): train unguarded, as before
        return RunLock(descriptor)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return RunLock(descriptor)


def lock_holder(run_dir: Path) -> int | None:
    """The pid written into the run's lock by the process holding it (None when no process has written one)."""
    try:
        return int((run_dir / LOCK).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


STATE_KEYS = ("step", "epoch", "finished", "stop_reason", "elapsed")  # the part of last.pt's trainer state in state.json


def write_state(run_dir: Path, trainer_state: dict[str, Any]) -> None:
    """Beside every last.pt: a small JSON file that ``s2s runs`` and scripts can read without torch."""
    state = {key: trainer_state.get(key) for key in STATE_KEYS}
    write_text_atomically(run_dir / STATE, json.dumps(state, indent=1) + "\n")


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The run's state.json; for a run from before it existed, the same fields from last.pt; None without either."""
    try:
        return json.loads((run_dir / STATE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        pass
    if not (run_dir / LAST).is_file():
        return None
    try:
        trainer = load_checkpoint(run_dir / LAST)["trainer"]
    except (RunError, KeyError):
        return None
    return {key: trainer.get(key) for key in STATE_KEYS}


def default_checkpoint(run_dir: Path) -> str:
    """The run's own choice: what ``default.json`` names (averaged weights that won on validation), else best.pt."""
    path = run_dir / DEFAULT
    try:
        name = json.loads(path.read_text(encoding="utf-8"))["checkpoint"]
    except FileNotFoundError:
        return BEST
    except (OSError, ValueError, KeyError, TypeError):
        raise RunError(f"{path}: unreadable (expected {{\"checkpoint\": NAME}}); delete it to use {BEST}") from None
    if not isinstance(name, str) or not (run_dir / name).is_file():
        raise RunError(f"{path}: names {name!r}, which is not in {run_dir}; delete it to use {BEST}")
    return name


def set_default_checkpoint(run_dir: Path, name: str, why: dict[str, Any]) -> None:
    """Record ``name`` (a file in the run folder) as the run's default checkpoint, and the scores that chose it."""
    write_text_atomically(run_dir / DEFAULT, json.dumps({"checkpoint": name, **why}, indent=1) + "\n")


def checkpoint_path(run_dir: Path, checkpoint: str | Path | None = None) -> Path:
    """A checkpoint named inside the run folder (``best.pt``, ``average-last5.pt``) or given as a path;
    None: the run's default (``default_checkpoint``)."""
    checkpoint = checkpoint or default_checkpoint(run_dir)
    for candidate in (run_dir / checkpoint, Path(checkpoint)):
        if candidate.is_file():
            return candidate
    kept = ", ".join(sorted(path.name for path in run_dir.glob("*.pt"))) or "none"
    raise RunError(f"{checkpoint}: no such checkpoint in {run_dir} or as a path (the run has: {kept})")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load tensors and plain values only: a checkpoint can never run code (weights_only)."""
    import pickle

    import torch

    if not path.is_file():
        raise RunError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise RunError(f"{path}: refused to load: not a plain s2s checkpoint ({first_line})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise RunError(f"{path}: unreadable checkpoint (truncated or corrupt: {type(exc).__name__})") from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise RunError(f"{path}: not an s2s checkpoint (no model weights inside)")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise RunError(
            f"{path}: written by an incompatible s2s version (checkpoint format {payload.get('format')}, "
            f"this s2s reads format {CHECKPOINT_FORMAT})"
        )
    return payload


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """One JSON line per validation, flushed to disk before the checkpoints that follow it."""
    append_record(run_dir / METRICS, record, "the checkpoints are intact")


def read_metrics(run_dir: Path, up_to_step: int | None = None, rewrite: bool = True) -> list[dict[str, Any]]:
    """The metrics log; with ``up_to_step``, cut back (and rewritten) to match a checkpoint being resumed."""
    return read_records(run_dir / METRICS, up_to_step, rewrite)


def append_record(path: Path, record: dict[str, Any], reassurance: str = "") -> None:
    """Append one JSON line to a run's log and flush it to disk."""
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
            os.fsync(log.fileno())
    except OSError as exc:
        raise RunError(f"{path}: cannot write ({exc.strerror}){'; ' + reassurance if reassurance else ''}") from None


def read_records(path: Path, up_to_step: int | None = None, rewrite: bool = True) -> list[dict[str, Any]]:
    """A JSON-lines log of validations; with ``up_to_step``, cut back (and rewritten) to a resumed checkpoint."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a crash: everything after it is gone too
    if up_to_step is not None:
        records = [r for r in records if r["step"] <= up_to_step]
    if up_to_step is not None and rewrite and path.is_file():
        write_text_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records


def fsync_file(path: Path) -> None:
    """A file's bytes on disk (not only in the page cache) before a rename makes them the file."""
    descriptor = os.open(path, os.O_RDWR)  # Windows flushes only a handle open for writing
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open folders; the rename is still atomic
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
