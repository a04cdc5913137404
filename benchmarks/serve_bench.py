"""Load on `nuchter serve`: requests from concurrent clients on loopback, next to the CLI.

    python benchmarks/serve_bench.py                  # 500 requests, 8 clients (about a minute on 2 cores)
    python benchmarks/serve_bench.py --quick          # 40 requests, a smoke run

It starts `nuchter serve` with the built-in model in its own process, sends
paragraphs of the project's own sentences (5–15 per request) from N client
threads over keep-alive connections (stdlib http.client, the lightest client
there is, because it shares the cores with the server), then scores the same
paragraphs with `nuchter score --file` in a fresh process. It prints
requests/s, sentences/s, p50/p95 latency and errors for the service, and the
CLI's sentences/s with and without its start-up.
Target: 8 clients get at least 70 % of the CLI's sentences/s. Nothing here is a unit test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ROOT / "model" / "builtin"


def paragraphs(count: int, seed: int = 11) -> list[str]:
    from bench import corpus_sentences, draws  # benchmarks/ is on sys.path when this runs as a script

    rng = random.Random(seed)
    lengths = [rng.randint(5, 15) for _ in range(count)]
    drawn = iter(draws(corpus_sentences(), sum(lengths), rng))
    return [" ".join(next(drawn) for _ in range(n)) for n in lengths]


def start_server(max_wait_ms: float) -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nuchter", "serve", "--port", "0", "--model", str(BUILTIN), "--max-wait-ms", str(max_wait_ms)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "NUCHTER_HOME": tempfile.mkdtemp(prefix="nuchter-bench-home-")},
    )
    line = proc.stderr.readline()
    match = re.search(r"http://([\d.]+):(\d+)/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, match.group(1), int(match.group(2))


def load(host: str, port: int, texts: list[str], clients: int) -> dict:
    """Every text once, spread over ``clients`` threads; returns the figures."""
    latencies: list[float] = []
    sentences = [0]
    errors: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(texts)))

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            body = json.dumps({"text": texts[i]}, ensure_ascii=False).encode("utf-8")
            began = time.perf_counter()
            try:
                connection.request("POST", "/api/score", body, {"content-type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                took = time.perf_counter() - began
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {payload[:200]!r}")
                n = json.loads(payload)["summary"]["sentences"]
            except Exception as exc:  # counted, never hidden
                with lock:
                    errors.append(str(exc))
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=60)
                continue
            with lock:
                latencies.append(took)
                sentences[0] += n
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "clients": clients, "requests": len(latencies), "errors": len(errors), "sentences": sentences[0],
        "wall_s": wall, "requests_per_s": len(latencies) / wall, "sentences_per_s": sentences[0] / wall,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000 if ordered else float("nan"),
        "first_error": errors[0] if errors else "",
    }


def cli(texts: list[str]) -> dict:
    """`nuchter score --file` on the same paragraphs, one per line block, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alles.txt"
        path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        command = [sys.executable, "-m", "nuchter", "score", "--model", str(BUILTIN), "--format", "jsonl"]
        env = {**os.environ, "NUCHTER_HOME": folder}
        began = time.perf_counter()
        out = subprocess.run([*command, "--file", str(path)], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - began
        began = time.perf_counter()
        subprocess.run([*command, "Kurkuma geneest alles."], cwd=ROOT, env=env, capture_output=True, check=True)
        startup = time.perf_counter() - began
    sentences = len(out.stdout.splitlines())
    return {"sentences": sentences, "wall_s": wall, "startup_s": startup,
            "sentences_per_s": sentences / wall, "sentences_per_s_after_startup": sentences / max(wall - startup, 1e-9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="40 requests")
    args = parser.parse_args()
    texts = paragraphs(40 if args.quick else args.requests)

    proc, host, port = start_server(args.max_wait_ms)
    try:
        load(host, port, texts[:20], 2)  # warm-up: imports, caches, connections
        runs = [load(host, port, texts, n) for n in args.clients]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    base = cli(texts)

    print(f"{len(texts)} requests of 5–15 sentences, built-in model, loopback, batch wait {args.max_wait_ms:g} ms\n")
    print("| run | requests/s | sentences/s | p50 ms | p95 ms | errors | share of CLI |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        share = r["sentences_per_s"] / base["sentences_per_s_after_startup"]
        print(f"| `nuchter serve`, {r['clients']} client{'s' if r['clients'] > 1 else ''} | {r['requests_per_s']:.0f} | "
              f"{r['sentences_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['errors']} | {share:.0%} |")
    print(f"| `nuchter score --file`, same paragraphs | – | {base['sentences_per_s_after_startup']:.0f} "
          f"({base['sentences_per_s']:.0f} with its {base['startup_s']:.2f} s start-up) | – | – | – | 100% |")
    print(f"\nsentences: service {runs[0]['sentences']}, CLI {base['sentences']}")
    for r in runs:
        if r["errors"]:
            print(f"first error ({r['clients']} clients): {r['first_error']}")
    eight = next((r for r in runs if r["clients"] == 8), None)
    if eight:
        share = eight["sentences_per_s"] / base["sentences_per_s_after_startup"]
        print(f"8 clients: {share:.0%} of the CLI's sentences/s (target >= 70 %: {'met' if share >= 0.7 else 'NOT met'}); "
              f"errors {eight['errors']} (must be 0)")


if __name__ == "__main__":
    main()
