"""Requests that arrive within a few milliseconds of each other, decoded as one batch.

A length-sorted batch of 64 sentences costs little more than one sentence on a CPU, so under load
the window (``ServeSettings.batch_window_ms``) buys throughput, and alone a request waits only the
window. Decoding runs in one worker thread, so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from seq2seq_cli.serve.settings import ServeSettings


@dataclass
class _Job:
    """One request's sentences waiting for the batcher, and where its answer goes."""

    texts: list[str]
    beam: int
    nbest: int
    attention: bool
    answer: asyncio.Future
    records: list[dict] = field(default_factory=list)


class Batcher:
    """Merges requests that arrive together into one decode, and hands each caller its own answer."""

    def __init__(self, translator, settings: ServeSettings):
        self.translator, self.settings = translator, settings
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.requests = self.batches = self.sentences = 0

    async def translate(self, texts: list[str], beam: int, nbest: int, attention: bool) -> list[dict]:
        job = _Job(texts, beam, nbest, attention, asyncio.get_running_loop().create_future())
        self.requests += 1
        await self.queue.put(job)
        return await job.answer

    WINDOWS_AT_MOST = 10  # the first request of a batch waits at most this many windows for the rest

    async def run(self) -> None:
        """Forever: wait for a request, gather what else arrives within the window, decode, answer."""
        while True:
            jobs = [await self.queue.get()]
            window = self.settings.batch_window_ms / 1000
            latest = time.monotonic() + self.WINDOWS_AT_MOST * window
            while sum(len(job.texts) for job in jobs) < self.settings.max_batch:
                # The window restarts with every arrival: after a batch, the clients it answered come
                # back one after another, each a little behind the last, and all belong in the next batch.
                wait = min(window, latest - time.monotonic())
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), max(wait, 0)))
                except TimeoutError:  # asyncio.TimeoutError is this builtin from Python 3.11
                    break
            await self._decode(jobs)

    async def _decode(self, jobs: list[_Job]) -> None:
        """One decode per distinct (beam, nbest) among the jobs, in the worker thread."""
        groups: dict[tuple[int, int], list[_Job]] = {}
        for job in jobs:
            groups.setdefault((job.beam, job.nbest), []).append(job)
        for (beam, nbest), members in groups.items():
            try:
                outputs = await asyncio.to_thread(self._translate, [t for job in members for t in job.texts], beam, nbest)
            except Exception as exc:  # noqa: BLE001 - each caller gets the failure, the server goes on
                for job in members:
                    if not job.answer.done():
                        job.answer.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for job in members:
                mine = outputs[start : start + len(job.texts)]
                start += len(job.texts)
                if not job.answer.done():  # a caller that went away is not answered
                    job.answer.set_result(self._records(job, mine))

    def _translate(self, texts: list[str], beam: int, nbest: int):
        translator = self.translator.with_decoding(beam_size=beam, n_best=nbest)
        self.sentences += len(texts)
        return translator.translate_nbest(texts, batch_size=self.settings.max_batch)

    @staticmethod
    def _records(job: _Job, outputs) -> list[dict]:
        from seq2seq_cli.decoding.translator import json_record

        return [json_record(text, candidates, align=job.attention, attention=job.attention)
                for text, candidates in zip(job.texts, outputs)]
