"""Load test of `s2s serve` on loopback: throughput, latency and errors under concurrent clients.

    python bench/serve.py --run runs/default [--data data/en-fr/test.tsv] [--seconds 20] [--clients 1 8 64]
                          [--out bench/SERVE.md]

For each batching setting (the default 5 ms window, and 0: every request decoded alone) it starts
the server, then for each client count runs that many concurrent clients for a fixed time, each
sending one sentence a request (the sources of --data, in turn) as soon as its last
answer came. It records sentences/s, p50/p95/p99 latency, errors, and the server's resident
memory at the start and the end, and compares throughput with offline batched
`s2s translate --input` over the same sentences.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seq2seq_cli.system import cpu_name  # noqa: E402

S2S = [sys.executable, "-m", "seq2seq_cli"]


def sentences(data: Path) -> list[str]:
    rows = data.read_text(encoding="utf-8").splitlines()
    return [row.split("\t")[0] for row in rows]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_window(spec: str) -> tuple[float, bool]:
    """``5``: a 5 ms batching window that widens under load (s2s's default); ``5-fixed``: one that does not."""
    number, _, fixed = spec.partition("-")
    if fixed not in ("", "fixed"):
        raise SystemExit(f"--windows {spec}: a number of ms, optionally followed by -fixed")
    return float(number), not fixed


def window_label(window_ms: float, adaptive: bool) -> str:
    return f"{window_ms:g} ms{'' if not window_ms else ', widens under load' if adaptive else ', fixed'}"


def health(url: str) -> dict:
    import httpx

    return httpx.get(f"{url}/health", timeout=10).json()


def start_server(run: str, window_ms: float, adaptive: bool = True) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [*S2S, "serve", "--run", run, "--port", str(port), "--batch-window-ms", str(window_ms),
               "--adaptive-window" if adaptive else "--fixed-window"]
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/health", timeout=1)
            return server, url
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not come up")


async def load(url: str, clients: int, seconds: float, texts: list[str]) -> dict:
    """``clients`` loops, each posting one sentence at a time until the time is up."""
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        index = number
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                reply = await http.post(f"{url}/translate", json={"texts": [texts[index % len(texts)]]})
                ok = reply.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1
            index += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {"clients": clients, "sentences_per_s": len(latencies) / elapsed, "errors": errors,
            "p50_ms": 1000 * quantiles[49], "p95_ms": 1000 * quantiles[94], "p99_ms": 1000 * quantiles[98]}


def clients_load(url: str, clients: int, texts: list[str], args) -> dict:
    """The load, from this process, or with ``--client-nice N`` from a child at that niceness: the
    clients then yield the shared cores to the server, roughly as clients on other machines would."""
    if not args.client_nice:
        return asyncio.run(load(url, clients, args.seconds, texts))
    command = ["nice", "-n", str(args.client_nice), sys.executable, __file__, "--load-only", url, str(clients),
               "--seconds", str(args.seconds), "--data", str(args.data), "--run", args.run]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def offline_rate(run: str, texts: list[str]) -> float:
    """Sentences/s of batched `s2s translate --input` over the same sentences (model loading excluded by
    translating them twice and timing the difference)."""
    with tempfile.TemporaryDirectory() as folder:
        def timed(copies: int) -> float:
            source = Path(folder) / f"in{copies}.txt"
            source.write_text("".join(t + "\n" for t in texts * copies), encoding="utf-8")
            start = time.perf_counter()
            subprocess.run([*S2S, "translate", "--run", run, "--input", str(source), "--output", str(source) + ".out",
                            "--quiet"], cwd=ROOT, check=True, capture_output=True)
            return time.perf_counter() - start

        one, five = timed(1), timed(5)
    return 4 * len(texts) / max(five - one, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", type=Path, default=ROOT / "data/en-fr/test.tsv", help="TSV pairs: their sources are sent.")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SERVE.md")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="run the clients at this niceness (1-19), in a child process, below the server")
    parser.add_argument("--windows", nargs="+", default=["5", "0"], metavar="MS[-fixed]",
                        help="batching windows to measure: 5 (widens under load, the default), 5-fixed, 0 (none)")
    parser.add_argument("--load-only", nargs=2, metavar=("URL", "CLIENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    texts = sentences(args.data)
    if args.load_only:
        print(json.dumps(asyncio.run(load(args.load_only[0], int(args.load_only[1]), args.seconds, texts))))
        return
    rows = []
    for window, adaptive in map(parse_window, args.windows):
        server, url = start_server(args.run, window, adaptive)
        try:
            memory_start = rss_mib(server.pid)
            for clients in args.clients:
                before = health(url)
                result = clients_load(url, clients, texts, args)
                after = health(url)
                batches = after["batches"] - before["batches"]
                result.update(window=window_label(window, adaptive), memory_start=memory_start, memory_end=rss_mib(server.pid),
                              mean_batch=(after["sentences"] - before["sentences"]) / max(batches, 1))
                rows.append(result)
                print(result, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    offline = offline_rate(args.run, texts)
    print(f"offline batched translate: {offline:,.0f} sentences/s")
    write_report(args, rows, offline)


def write_report(args, rows: list[dict], offline: float) -> None:
    lines = [
        "# `s2s serve` under load, on loopback",
        "",
        f"`python bench/serve.py --run {args.run} --data {args.data} --seconds {args.seconds:g} "
        f"--windows {' '.join(args.windows)}"
        f"{f' --client-nice {args.client_nice}' if args.client_nice else ''}` on **{cpu_name()}** "
        f"({os.cpu_count()} cores; the clients run on the same cores as the server"
        f"{f', at niceness {args.client_nice} below it' if args.client_nice else ''}). One sentence a request, the sources of "
        f"`{args.data.name}` in turn, decoded with the run's own settings (beam size and length penalty).",
        "",
        "| batching window | clients | sentences/s | share of offline | mean batch | p50 | p95 | p99 | errors "
        "| server memory start → end |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['window']} | {row['clients']} | {row['sentences_per_s']:,.0f} | "
            f"{row['sentences_per_s'] / offline:.0%} | {row['mean_batch']:.1f} | {row['p50_ms']:,.0f} ms | "
            f"{row['p95_ms']:,.0f} ms | "
            f"{row['p99_ms']:,.0f} ms | {row['errors']} | {row['memory_start']:,.0f} → {row['memory_end']:,.0f} MiB |"
        )
    lines += ["", f"Offline batched `s2s translate --input` over the same sentences: {offline:,.0f} sentences/s.", ""]
    marker = "<!-- reading -->"  # what follows it was written by hand and survives a rerun
    previous = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
    reading = previous[previous.index(marker):] if marker in previous else marker + "\n"
    args.out.write_text("\n".join(lines) + "\n" + reading, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
