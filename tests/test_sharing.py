"""Training shares the cores with other processes (issue 33): with ``train.threads: 0`` a run drops to
the cores other processes leave free, and takes them all back when they are free again."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from seq2seq_cli.system import CoreUse
from seq2seq_cli.training import sharing
from seq2seq_cli.training.sharing import FairShare, threads_beside
from tests.conftest import run_cli

needs_proc_stat = pytest.mark.skipif(CoreUse().others() is None, reason="no /proc/stat on this system")


@pytest.mark.parametrize(("others", "cores", "threads"), [
    (0.0, 2, 2), (0.3, 2, 2), (0.9, 2, 1), (1.0, 2, 1), (1.9, 2, 1), (3.0, 2, 1), (0.2, 4, 4), (2.2, 4, 2),
])
def test_a_run_takes_the_cores_other_processes_leave_and_always_one(others, cores, threads):
    assert threads_beside(others, cores) == threads


class Readings:
    """Stands in for CoreUse: the cores 'other processes' used, one reading per look."""

    def __init__(self, values: list[float]):
        self.values = iter(values)

    def others(self) -> float:
        return next(self.values)


@pytest.fixture
def share(monkeypatch):
    monkeypatch.setattr(sharing, "LOOK_EVERY_S", 0.0)
    said: list[str] = []
    before = torch.get_num_threads()
    share = FairShare(2, enabled=True, say=said.append)
    share.said = said
    share.next_look = 0.0
    yield share
    torch.set_num_threads(before)


def test_two_agreeing_looks_change_the_thread_count_and_say_so_and_a_free_cpu_brings_them_back(share):
    share.use = Readings([0.9, 0.0, 0.9, 0.95, 1.0, 0.1, 0.0])
    share.poll()  # one look asks for 1 thread: not yet
    share.poll()  # the next asks for 2 again: a blip, nothing changes
    assert share.threads == 2 and share.changes == 0
    share.poll()
    share.poll()  # two looks in a row ask for 1
    assert share.threads == 1 == torch.get_num_threads()
    assert share.said == ["sharing the CPU: 1 of 2 threads while other processes keep 0.9 cores busy "
                          "(train.threads sets a fixed count)"]
    for _ in range(3):
        share.poll()
    assert share.threads == 2 == torch.get_num_threads() and share.changes == 2
    assert share.said[-1] == "the CPU is free again: back to 2 threads"


def test_a_fixed_thread_count_or_one_core_is_never_changed():
    for share in (FairShare(2, enabled=False, say=print), FairShare(1, enabled=True, say=print)):
        share.next_look = 0.0
        share.poll()  # reads nothing: it has no CoreUse at all
        assert share.use is None and share.threads == share.cores


def spinning_child(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"])


@needs_proc_stat
def test_core_use_counts_other_processes_and_not_this_one():
    use = CoreUse()
    end = time.process_time() + 0.8
    while time.process_time() < end:  # this process busy: not "other processes"
        pass
    assert use.others() < 0.5
    child = spinning_child(1.0)
    child.wait()
    assert use.others() > 0.5  # a child spinning for a second: about one core


@needs_proc_stat
def test_a_training_beside_a_busy_process_shares_the_cpu_and_says_so(tmp_path, monkeypatch):
    if torch.get_num_threads() < 2:
        pytest.skip("one core: nothing to share")
    monkeypatch.setattr(sharing, "LOOK_EVERY_S", 0.3)
    busy = [spinning_child(8.0) for _ in range(torch.get_num_threads())]  # every core busy while it trains
    try:
        result = run_cli("train", "-c", "configs/seed.yaml", "--set", f"train.runs_dir={tmp_path}",
                         "--set", "train.epochs=1000", "--set", "train.max_time=3s")
    finally:
        for child in busy:
            child.kill()
    assert result.exit_code == 0, result.output
    assert "sharing the CPU: 1 of" in result.output
    assert torch.get_num_threads() >= 2  # the caller's thread count is restored afterwards
