"""Requests decoded in shared batches, in turns, by one supervised worker.

A length-sorted batch of 64 sentences costs little more than one sentence on a CPU, so under load
the window (``ServeSettings.batch_window_ms``) buys throughput, and alone a request waits only the
window. A large request is not decoded at once: each decode holds at most ``batch_work`` of work,
and the callers take turns (fewest turns first), so a one-sentence request that arrives behind a
large one goes into the next decode instead of waiting for the whole of it. Decoding, and building
the answers, run in one worker thread, so the event loop keeps accepting requests meanwhile.

The worker is supervised: a decode that fails fails only its own callers (500), and the loop goes
on. If the loop stops anyway, every waiting caller is answered at once (503), and so is every later
one, while ``/health`` says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from seq2seq_cli.serve.settings import ServeSettings

log = logging.getLogger("s2s.serve")


class Unavailable(Exception):
    """The server cannot take this request now (503); ``retry_after``: seconds to wait, when known."""

    def __init__(self, message: str, retry_after: Optional[int] = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    """One request's texts waiting for the worker, how far it has got, and where its answer goes."""

    texts: list[str]
    tokens: list[list[str]]  # each text as the model reads it (checked by the route)
    work: list[int]  # each text's estimated work (settings.text_work)
    beam: int
    nbest: int
    attention: bool
    page: Optional[Callable[[], str]] = None  # the explorer: one text, decoded and rendered alone
    prefix: list[int] = field(default_factory=list)  # target ids every text's translation is forced to start with
    attribution: Optional[str] = None  # grad, ig or occlusion: computed after decoding, for this job's texts only
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    parts: list[str] = field(default_factory=list)  # each decoded text's answer (JSON), in order
    turns: int = 0

    @property
    def key(self) -> object:
        """Jobs with the same key can share a decode."""
        return (self.beam, self.nbest) if self.page is None else self


Slice = tuple[Job, int, int]  # a job's texts[start:stop], decoded in one batch


class Batcher:
    """Merges requests that arrive together into one decode, and hands each caller its own answer."""

    WINDOWS_AT_MOST = 10  # the first request of a batch waits at most this many windows for the rest
    WIDEST = 4  # under load the quiet gap that closes a batch widens to at most this many batching windows

    def __init__(self, translator, settings: ServeSettings):
        self.translator, self.settings = translator, settings
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.active: list[Job] = []  # admitted, not finished: decoded in turns
        self.task: Optional[asyncio.Task] = None
        self.worker: Optional[ThreadPoolExecutor] = None
        self.stopped = ""  # why the worker stopped, once it has
        self.requests = self.batches = self.sentences = 0
        self.rate = 0.0  # work decoded per second, the latest batches' (for Retry-After)
        self.last_requests = 0  # requests in the latest decode: more than one means the server is under load
        self.arrival_gap: Optional[float] = None  # the median gap between arrivals while the latest batch gathered

    def start(self) -> asyncio.Task:
        """The worker, on the running loop; when it ends, every caller still waiting is answered 503."""
        self.queue, self.active, self.stopped = asyncio.Queue(), [], ""  # a queue belongs to one loop
        if self.worker is None:  # one thread decodes: one allocator arena, and torch's thread state kept warm
            self.worker = ThreadPoolExecutor(1, thread_name_prefix="s2s-decode")
        self.task = asyncio.create_task(self.run())
        self.task.add_done_callback(self._on_stop)
        return self.task

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def waiting(self) -> int:
        return self.queue.qsize() + len(self.active)

    async def submit(self, job: Job) -> list[str]:
        """The job's answers (one JSON text per text), once decoded; ``Unavailable`` when full or stopped."""
        if not self.alive:
            raise Unavailable(f"the decoder has stopped ({self.stopped or 'not started'}): restart the server")
        if self.waiting() >= self.settings.max_queue:
            raise Unavailable(f"busy: {self.waiting()} requests waiting, at most {self.settings.max_queue}",
                              self.retry_after())
        self.requests += 1
        self.queue.put_nowait(job)
        return await job.answer

    def retry_after(self) -> int:
        """Seconds until the work waiting now is likely done (1 to 60)."""
        waiting = sum(sum(job.work[len(job.parts):]) for job in self.active)  # the queue is taken in every turn
        return int(min(60, max(1, waiting / self.rate))) if self.rate else 1

    async def run(self) -> None:
        """Forever: take what has arrived, decode the next turn, answer who is done. A failure in a batch
        fails that batch's callers and the loop goes on; one outside a batch stops the loop (``_on_stop``)."""
        while True:
            await self._gather()
            batch = self._next_batch()
            if not batch:
                continue
            try:
                await self._decode(batch)
            except Exception as exc:  # noqa: BLE001 - the batch's callers get the failure, the loop goes on
                log.exception("decoding failed")
                self._fail([job for job, _, _ in batch], exc)

    async def _gather(self) -> None:
        """When idle, wait for a request and for what else arrives within the window; else take what is there."""
        if not self.active:
            self.active.append(await self.queue.get())
            window = self.quiet_gap()
            arrivals = [time.monotonic()]
            latest = arrivals[0] + self.WINDOWS_AT_MOST * window
            while self._pending_fits():
                # The window restarts with every arrival: after a batch, the clients it answered come
                # back one after another, each a little behind the last, and all belong in the next batch.
                wait = min(window, latest - time.monotonic())
                try:
                    self.active.append(await asyncio.wait_for(self.queue.get(), max(wait, 0)))
                except TimeoutError:  # asyncio.TimeoutError is this builtin from Python 3.11
                    break
                arrivals.append(time.monotonic())
            gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
            self.arrival_gap = gaps[len(gaps) // 2] if gaps else None
        while not self.queue.empty():
            self.active.append(self.queue.get_nowait())

    def quiet_gap(self) -> float:
        """The quiet gap that closes a batch, in seconds. Idle, the batching window: a lone request waits
        only that. Under load (the latest decode held more than one request), twice the median gap between
        the arrivals that formed the latest batch, so that a batch does not close between two clients
        coming back; at most ``WIDEST`` windows (``ServeSettings.adaptive_window``; bench/SERVE.md)."""
        window = self.settings.batch_window_ms / 1000
        if not self.settings.adaptive_window or self.last_requests < 2 or self.arrival_gap is None:
            return window
        return min(self.WIDEST * window, max(window, 2 * self.arrival_gap))

    def _pending_fits(self) -> bool:
        texts = sum(len(job.texts) for job in self.active)
        work = sum(sum(job.work) for job in self.active)
        return texts < self.settings.max_batch and work < self.settings.batch_work

    def _next_batch(self) -> list[Slice]:
        """The next decode: the job with the fewest turns, and what of the others shares its settings and fits."""
        self.active = [job for job in self.active if not job.answer.done()]  # a caller that went away is dropped
        if not self.active:
            return []
        order = sorted(self.active, key=lambda job: job.turns)  # stable: among equals, the first to arrive
        first = order[0]
        batch: list[Slice] = []
        texts = work = 0
        for job in order:
            if job.key != first.key:
                continue
            start = stop = len(job.parts)
            while stop < len(job.texts) and texts < self.settings.max_batch and (
                    not texts or work + job.work[stop] <= self.settings.batch_work):
                texts, work, stop = texts + 1, work + job.work[stop], stop + 1
            if stop > start:
                batch.append((job, start, stop))
                job.turns += 1
        return batch

    async def _decode(self, batch: list[Slice]) -> None:
        """Decode the batch in the worker thread, then answer the callers it finishes."""
        began = time.monotonic()
        answers = await asyncio.get_running_loop().run_in_executor(self.worker, self._answers, batch)
        work = sum(sum(job.work[start:stop]) for job, start, stop in batch)
        self.rate = work / max(time.monotonic() - began, 1e-3)
        self.batches += 1
        self.last_requests = len(batch)
        for (job, _, stop), parts in zip(batch, answers):
            job.parts.extend(parts)
            if stop == len(job.texts):
                self.active.remove(job)
                if not job.answer.done():  # a caller that went away is not answered
                    job.answer.set_result(job.parts)

    def _answers(self, batch: list[Slice]) -> list[list[str]]:
        """In the worker thread: each slice's answers, as JSON texts (a page job: its page)."""
        first = batch[0][0]
        if first.page is not None:
            self.sentences += 1
            return [[first.page()]]
        tokens = [t for job, start, stop in batch for t in job.tokens[start:stop]]
        prefixes = [job.prefix for job, start, stop in batch for _ in range(start, stop)]  # each its own
        self.sentences += len(tokens)
        translator = self.translator.with_decoding(beam_size=first.beam, n_best=first.nbest)
        outputs = iter(translator.translate_tokens(tokens, batch_size=self.settings.max_batch, prefixes=prefixes))
        return [[self._record(translator, job, text, next(outputs)) for text in job.texts[start:stop]]
                for job, start, stop in batch]

    @staticmethod
    def _record(translator, job: Job, text: str, candidates) -> str:
        """One text's answer; its attribution, when asked for, computed here for its own hypotheses alone."""
        from seq2seq_cli.decoding.lines import json_record

        if job.attribution:
            candidates = translator.explain(candidates, job.attribution)
        return json.dumps(json_record(text, candidates, align=job.attention, attention=job.attention),
                          ensure_ascii=False, separators=(",", ":"))

    def _fail(self, jobs: list[Job], exc: BaseException) -> None:
        for job in jobs:
            if job in self.active:
                self.active.remove(job)
            if not job.answer.done():
                job.answer.set_exception(exc)

    def _on_stop(self, task: asyncio.Task) -> None:
        """The worker has ended (cancelled at shutdown, or broken): no caller is left waiting for it."""
        self.stopped = "cancelled" if task.cancelled() else f"{type(task.exception()).__name__}: {task.exception()}"
        if not task.cancelled():
            log.error("the decoder stopped: %s", self.stopped)
        waiting = self.active + [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        self._fail(waiting, Unavailable(f"the decoder has stopped ({self.stopped}): restart the server"))
