"""make check-pythons: every Python version pyproject.toml claims (its classifiers) gets a fresh venv,
the runtime install with the tested constraints, and the command-line smoke test.

An interpreter that is not on this machine (``pythonX.Y`` on PATH, or under ~/.pyenv/versions/) is
skipped with a note. Off the Python that the local torch wheel was built for, pip takes torch from
the index: PyPI's Linux wheel is the CUDA build, several GB (set TORCH_INDEX to PyTorch's CPU index
where it is reachable). Kept out of ``make test`` for that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "check-pythons"
SENTENCE, EXPECTED = "i am a student", "je suis etudiant"


def claimed_versions() -> list[str]:
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    prefix = "Programming Language :: Python :: "
    return [c[len(prefix):] for c in classifiers if c.startswith(prefix) and c[len(prefix):].count(".") == 1]


def interpreter(version: str) -> str | None:
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return found
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(pyenv[-1]) if pyenv else None


def run(command: list[str], log, **kwargs) -> None:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, **kwargs)


def install(python: str, venv: Path, log) -> Path:
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)], log)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    if os.environ.get("TORCH_INDEX"):
        run([*pip, "--index-url", os.environ["TORCH_INDEX"], "torch==2.13.0"], log)
    run([*pip, "-c", "constraints.txt", "-e", "."], log)
    return venv / "bin" / "s2s"


def smoke(s2s: Path, log) -> None:
    """The user's first minutes: train the seed pairs, translate, draw the attention."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "S2S_CACHE_DIR": str(Path(scratch) / "cache")}
        run([str(s2s), "train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={scratch}"], log, env=env)
        run_dir = str(Path(scratch) / "seed")
        answer = subprocess.run([str(s2s), "translate", "--run", run_dir, SENTENCE], capture_output=True, text=True, cwd=ROOT)
        log.write(answer.stdout + answer.stderr)
        if answer.stdout.strip() != EXPECTED:
            raise RuntimeError(f"translate gave {answer.stdout.strip()!r}, expected {EXPECTED!r}")
        run([str(s2s), "attend", "--run", run_dir, "--output", str(Path(scratch) / "a.png"), SENTENCE], log, env=env)


def check(version: str) -> tuple[str, str]:
    python = interpreter(version)
    if python is None:
        return "skipped", f"no python{version} on this machine (PATH or ~/.pyenv/versions)"
    venv, started = WORK / f"py{version}", time.monotonic()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(WORK / f"py{version}.log", "w", encoding="utf-8") as log:
        try:
            smoke(install(python, venv, log), log)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            return "FAILED", f"{exc} (log: {log.name})"
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 2**30
    return "passed", f"{python}, {time.monotonic() - started:.0f} s, venv {size:.1f} GiB"


def main() -> int:
    results = {}
    for version in claimed_versions():
        print(f"Python {version}: installing and running the smoke test ...", flush=True)
        results[version] = check(version)
        print(f"Python {version}: {results[version][0]}: {results[version][1]}", flush=True)
    print("\n".join(["", "claimed by pyproject.toml | result | details"] +
                    [f"Python {v} | {outcome} | {details}" for v, (outcome, details) in results.items()]))
    return 1 if any(outcome == "FAILED" for outcome, _ in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
