"""The batching window widens under load (issue 33): a lone request waits only the window, while under
load a batch stays open long enough for clients coming back at the usual gap between arrivals."""

from __future__ import annotations

import asyncio

import pytest

from seq2seq_cli.serve.batcher import Batcher, Job
from seq2seq_cli.serve.settings import ServeSettings


def quiet_gap(last_requests: int, arrival_gap: float | None, window_ms: float = 5.0, adaptive: bool = True) -> float:
    batcher = Batcher(None, ServeSettings(batch_window_ms=window_ms, adaptive_window=adaptive))
    batcher.last_requests, batcher.arrival_gap = last_requests, arrival_gap
    return batcher.quiet_gap()


@pytest.mark.parametrize(("last_requests", "arrival_gap", "expected"), [
    (0, None, 0.005),  # idle: the window alone
    (1, 0.030, 0.005),  # the latest decode held one request: no load
    (10, 0.001, 0.005),  # arrivals closer than the window: the window
    (10, 0.004, 0.008),  # twice the median gap
    (10, 0.050, 0.020),  # at most 4 windows
])
def test_the_quiet_gap_is_the_window_alone_and_twice_the_arrival_gap_under_load(last_requests, arrival_gap, expected):
    assert quiet_gap(last_requests, arrival_gap) == pytest.approx(expected)


def test_a_fixed_window_and_no_window_never_widen():
    assert quiet_gap(10, 0.004, adaptive=False) == pytest.approx(0.005)
    assert quiet_gap(10, 0.004, window_ms=0.0) == 0.0


class Echo:
    """Stands in for the translator: records each decode's texts."""

    def __init__(self) -> None:
        self.decodes: list[list[str]] = []

    def _answers(self, batch) -> list[list[str]]:
        self.decodes.append([t for job, start, stop in batch for t in job.texts[start:stop]])
        return [job.texts[start:stop] for job, start, stop in batch]


@pytest.mark.parametrize(("adaptive", "second_batch"), [(True, 4), (False, 1)])
def test_under_load_clients_arriving_a_little_apart_share_a_batch(adaptive, second_batch, monkeypatch):
    """Two batches: four requests arriving together (load), then four arriving 25 ms apart with a 20 ms
    window. Widened to twice the latest gap (40 ms: 80 ms, the most, 4 windows) the second batch holds
    all four; a fixed 20 ms window closes it after the first."""
    echo = Echo()

    async def scenario() -> list[list[str]]:
        batcher = Batcher(None, ServeSettings(batch_window_ms=20, adaptive_window=adaptive))
        monkeypatch.setattr(batcher, "_answers", echo._answers)
        worker = batcher.start()
        first = [asyncio.create_task(batcher.submit(Job([f"a{i}"], [["x"]], [1], 1, 1, False))) for i in range(4)]
        await asyncio.gather(*first)
        batcher.arrival_gap = 0.040  # as if the latest batch had gathered 40 ms apart
        later = []
        for i in range(4):
            later.append(asyncio.create_task(batcher.submit(Job([f"b{i}"], [["x"]], [1], 1, 1, False))))
            await asyncio.sleep(0.025)
        await asyncio.gather(*later)
        worker.cancel()
        batcher.worker.shutdown()
        return echo.decodes

    decodes = asyncio.run(scenario())
    assert decodes[0] == ["a0", "a1", "a2", "a3"]
    assert len(decodes[1]) == second_batch
