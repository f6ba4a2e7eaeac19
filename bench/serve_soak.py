"""Soak test of `s2s serve` on loopback: honest clients for minutes, with one hostile client among them.

    python bench/serve_soak.py [--run RUN] [--minutes 10] [--clients 64] [--data data/en-fr/test.tsv]
                               [--out bench/SOAK.md]

Without --run it trains configs/default.yaml into runs/ first (or uses runs/default if it is there).
It starts `s2s serve` with its default limits on 127.0.0.1, then:

1. **Behind a maximal request, on a quiet server**: a few times, a maximal request (the largest
   work the server accepts: 64 texts, beam 16) and, half a second later, a one-sentence request;
   the one sentence's latency is recorded.
2. **The soak**: --clients honest clients, each posting one sentence (the sources of --data in
   turn; every tenth with attention) as soon as its last answer came, for --minutes; and one
   hostile client that, in turn, sends a 150 MB body (Content-Length), a chunked body that never
   ends, a body one byte a second, a request head one byte a second, a maximal request (with a
   one-sentence request half a second behind it), and a request over the work limit.

It records the honest clients' p50/p95/p99 latency and throughput, every status they got (the
target: no 5xx), what each hostile move got, and the server's resident memory: when it started,
after the quiet probes, 30 s into the soak (the working set of its load) and each minute after, and
at the end (the target: the end within 10% of 30 s in). It writes --out. Traffic goes only to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serve import free_port, rss_mib, sentences  # noqa: E402  (bench/serve.py)

from seq2seq_cli.serve.settings import ServeSettings  # noqa: E402
from seq2seq_cli.system import cpu_name  # noqa: E402

S2S = [sys.executable, "-m", "seq2seq_cli"]
LIMITS = ServeSettings()  # the server runs with its defaults
HUGE = 150_000_000


def trained_run(runs_dir: Path) -> Path:
    """runs/default, trained with configs/default.yaml if it is not there yet."""
    run = runs_dir / "default"
    if not (run / "best.pt").is_file():
        print(f"training configs/default.yaml into {runs_dir} (a few minutes)", flush=True)
        subprocess.run([*S2S, "train", "--config", "configs/default.yaml", "--set", f"train.runs_dir={runs_dir}"],
                       cwd=ROOT, check=True)
    return run


def start_server(run: Path) -> tuple[subprocess.Popen, str, int]:
    import httpx

    port = free_port()
    server = subprocess.Popen([*S2S, "serve", "--run", str(run), "--port", str(port)], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/health", timeout=1)
            return server, url, port
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not come up")


def maximal_body(words: list[str], nbest: int = 1, attention: bool = False, over: float = 1.0) -> dict:
    """64 texts at beam 16 whose estimated work is the server's limit (``over`` times it): one word is one token."""
    per_token = 16 + nbest * (2 if attention else 1)
    tokens = int(LIMITS.max_work * over / (LIMITS.max_texts * per_token))
    rng = random.Random(tokens)
    texts = []
    for _ in range(LIMITS.max_texts):
        text = " ".join(rng.choice(words) for _ in range(tokens))
        texts.append(text[: LIMITS.max_chars].rsplit(" ", 1)[0] if len(text) > LIMITS.max_chars else text)
    return {"texts": texts, "beam": 16, "nbest": nbest, "attention": attention}


async def behind_a_maximal_request(http, url: str, body: dict, sentence: str) -> tuple[float, int, float]:
    """The maximal request, and half a second later one sentence: (its latency, the maximal's status and duration)."""
    began = time.perf_counter()
    large = asyncio.create_task(http.post(f"{url}/translate", json=body))
    await asyncio.sleep(0.5)
    start = time.perf_counter()
    small = await http.post(f"{url}/translate", json={"texts": [sentence]})
    latency = time.perf_counter() - start if small.status_code == 200 else float("inf")
    reply = await large
    return latency, reply.status_code, time.perf_counter() - began


async def status_of(reader: asyncio.StreamReader, seconds: float) -> str:
    """The status code of the server's answer, or 'closed' (no answer), or 'nothing' within ``seconds``."""
    try:
        line = await asyncio.wait_for(reader.readline(), seconds)
    except TimeoutError:
        return "nothing"
    except ConnectionError:
        return "closed"
    return line.split()[1].decode() if line.startswith(b"HTTP/") else "closed"


async def huge_body(host: str, port: int, chunked: bool) -> tuple[str, int]:
    """A 150 MB body (declared, or chunked and never ending), sent as fast as the server takes it: what the
    server answered, and how many bytes it took before it answered or closed."""
    reader, writer = await asyncio.open_connection(host, port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    writer.write(f"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
    block = b"a" * 65536
    block = b"10000\r\n" + block + b"\r\n" if chunked else block

    sent = 0

    async def send() -> None:
        nonlocal sent
        try:
            for _ in range(HUGE // 65536):
                writer.write(block)
                await writer.drain()
                sent += len(block)
        except ConnectionError:
            pass  # the server has answered and closed: what was not sent was never read

    sender = asyncio.create_task(send())
    answer = await status_of(reader, 60)
    sender.cancel()
    writer.close()
    return answer, sent


async def trickle(host: str, port: int, head_only: bool) -> str:
    """A request sent one byte a second: its head (never finished), or its body after a whole head."""
    reader, writer = await asyncio.open_connection(host, port)
    if head_only:
        data = b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n"
    else:
        writer.write(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n")
        data = b'{"texts": ["i am a student"]}' * 20

    async def send() -> None:
        try:
            for byte in data:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        except ConnectionError:
            pass

    sender = asyncio.create_task(send())
    answer = await status_of(reader, 4 * LIMITS.read_timeout_s)
    sender.cancel()
    writer.close()
    return answer


async def honest(http, url: str, number: int, texts: list[str], stop: float, record: dict) -> None:
    """One honest client: one sentence a request, the next as soon as the last is answered."""
    index = number
    while time.perf_counter() < stop:
        body = {"texts": [texts[index % len(texts)]], "attention": index % 10 == 0}
        start = time.perf_counter()
        try:
            status = (await http.post(f"{url}/translate", json=body)).status_code
        except Exception as exc:  # noqa: BLE001 - counted, never fatal: the soak goes on
            status = type(exc).__name__
        record["statuses"][status] += 1
        if status == 200:
            record["latencies"].append(time.perf_counter() - start)
        index += len(texts) // 7 + 1


async def hostile(http, url: str, port: int, words: list[str], sentence: str, stop: float, record: dict) -> None:
    """The hostile client: every move in turn, until the time is up."""
    moves = ["huge body", "maximal", "chunked body", "maximal with n-best and attention", "slow body", "maximal",
             "slow head", "over the work limit"]
    turn = 0
    while time.perf_counter() < stop:
        move = moves[turn % len(moves)]
        turn += 1
        try:
            if move in ("huge body", "chunked body"):
                got, sent = await huge_body("127.0.0.1", port, chunked=move == "chunked body")
                record["huge_sent_mb"].append(sent / 1e6)
            elif move in ("slow body", "slow head"):
                got = await trickle("127.0.0.1", port, head_only=move == "slow head")
            elif move == "over the work limit":
                body = maximal_body(words, nbest=16, attention=True, over=2)
                got = str((await http.post(f"{url}/translate", json=body)).status_code)
            else:
                fancy = move != "maximal"
                body = maximal_body(words, nbest=16 if fancy else 1, attention=fancy)
                latency, status, took = await behind_a_maximal_request(http, url, body, sentence)
                record["behind"].append(latency)
                record["maximal_s"].append(took)
                got = str(status)
        except Exception as exc:  # noqa: BLE001
            got = type(exc).__name__
        record["hostile"][(move, got)] += 1


async def sample_memory(pid: int, stop: float, record: dict) -> None:
    """The server's resident memory once a minute (the first after 30 s)."""
    await asyncio.sleep(30)
    while time.perf_counter() < stop:
        record["memory"].append(rss_mib(pid))
        await asyncio.sleep(60)


async def soak(url: str, port: int, pid: int, texts: list[str], clients: int, seconds: float) -> dict:
    import httpx

    words = sorted({word for text in texts for word in text.split()})
    record = {"statuses": Counter(), "latencies": [], "hostile": Counter(), "behind": [], "maximal_s": [], "huge_sent_mb": [],
              "memory": []}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(hostile(http, url, port, words, texts[0], stop, record), sample_memory(pid, stop, record),
                             *(honest(http, url, i, texts, stop, record) for i in range(clients)))
        record["elapsed"] = time.perf_counter() - began
    return record


async def quiet_probe(url: str, texts: list[str], rounds: int) -> dict:
    """On a quiet server: a maximal request, and a one-sentence request half a second behind it."""
    import httpx

    words = sorted({word for text in texts for word in text.split()})
    record = {"behind": [], "maximal_s": [], "statuses": Counter()}
    async with httpx.AsyncClient(timeout=120) as http:
        for turn in range(rounds):
            fancy = turn % 2 == 1
            body = maximal_body(words, nbest=16 if fancy else 1, attention=fancy)
            latency, status, took = await behind_a_maximal_request(http, url, body, texts[turn])
            record["behind"].append(latency)
            record["maximal_s"].append(took)
            record["statuses"][status] += 1
    return record


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: runs/default, trained first if missing)")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--data", type=Path, default=ROOT / "data/en-fr/test.tsv", help="TSV pairs: their sources are sent")
    parser.add_argument("--probes", type=int, default=6, help="maximal requests on the quiet server, before the soak")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SOAK.md")
    args = parser.parse_args()
    run = args.run or trained_run(args.runs_dir)
    texts = sentences(args.data)
    server, url, port = start_server(run)
    try:
        memory = {"start": rss_mib(server.pid)}
        probe = asyncio.run(quiet_probe(url, texts, args.probes))
        memory["warm"] = rss_mib(server.pid)
        print(f"quiet: one sentence behind a maximal request: {[f'{s:.2f}' for s in probe['behind']]} s", flush=True)
        record = asyncio.run(soak(url, port, server.pid, texts, args.clients, args.minutes * 60))
        memory["end"] = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    log = server.stderr.read()
    write_report(args, run, probe, record, memory, log)


def write_report(args, run: Path, probe: dict, record: dict, memory: dict, log: str) -> None:
    latencies = record["latencies"]
    five = sum(n for status, n in record["statuses"].items() if isinstance(status, int) and status >= 500)
    loaded = record["memory"][0] if record["memory"] else memory["warm"]  # 30 s into the soak: the working set of its load
    growth = memory["end"] / loaded - 1
    lines = [
        "# `s2s serve` soak: honest clients and one hostile client, on loopback",
        "",
        f"`python bench/serve_soak.py --run {run} --minutes {args.minutes:g} --clients {args.clients}` on **{cpu_name()}** "
        f"({os.cpu_count()} cores; the clients run on the same cores as the server), `s2s serve` with its "
        f"default limits (`--max-work {LIMITS.max_work:,}`, `--batch-work {LIMITS.batch_work:,}`, "
        f"`--max-body-bytes {LIMITS.max_body_bytes:,}`, `--read-timeout {LIMITS.read_timeout_s:g}`, "
        f"`--keep-alive {LIMITS.keep_alive_s:g}`); httpx clients with their default 5 s keep-alive.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| honest requests answered 200 | {len(latencies):,} in {record['elapsed']:.0f} s "
        f"({len(latencies) / record['elapsed']:.1f}/s) |",
        f"| honest latency p50 / p95 / p99 | {1000 * quantile(latencies, 50):,.0f} / {1000 * quantile(latencies, 95):,.0f} / "
        f"{1000 * quantile(latencies, 99):,.0f} ms |",
        f"| honest statuses | {', '.join(f'{s}: {n:,}' for s, n in sorted(record['statuses'].items(), key=str))} |",
        f"| honest 5xx | **{five}** (target 0) |",
        f"| one sentence behind a maximal request, quiet server | {fmt_seconds(probe['behind'])} (maximal requests took "
        f"{fmt_seconds(probe['maximal_s'])}; statuses {dict(probe['statuses'])}) |",
        f"| one sentence behind a maximal request, during the soak | {fmt_seconds(record['behind'])} (maximal requests took "
        f"{fmt_seconds(record['maximal_s'])}) |",
        f"| server memory: started, after the quiet probes, 30 s into the soak, at its end | {memory['start']:,.0f}, "
        f"{memory['warm']:,.0f}, {loaded:,.0f}, {memory['end']:,.0f} MiB (end against 30 s in: **{growth:+.1%}**; "
        "target within ±10%) |",
        f"| server memory each minute of the soak, from 30 s in | {', '.join(f'{m:,.0f}' for m in record['memory'])} MiB |",
        f"| tracebacks in the server's log | {log.count('Traceback')} |",
        "",
        "The hostile client's moves, and what each got (`closed`: the server closed the connection without an answer",
        "the client could read; a client still sending when the 413 comes may see only the reset). Of each 150 MB body",
        f"the client got at most {max(record['huge_sent_mb'], default=0):.1f} MB out (the sockets' buffers included) "
        "before the server answered or closed.",
        "",
        "| move | answer | times |",
        "| --- | --- | ---: |",
        *(f"| {move} | {got} | {n} |" for (move, got), n in sorted(record["hostile"].items())),
        "",
    ]
    marker = "<!-- reading -->"  # what follows it was written by hand and survives a rerun
    previous = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    reading = previous[previous.index(marker):] if marker in previous else marker + "\n"
    args.out.write_text("\n".join(lines) + "\n" + reading, encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {args.out}")


def fmt_seconds(values: list[float]) -> str:
    if not values:
        return "none"
    return f"median {statistics.median(values):.2f} s, worst {max(values):.2f} s over {len(values)}"


if __name__ == "__main__":
    main()
