"""`nuchter scan --ray` against the local scan: sentences/s on one and two Ray nodes, start-up, memory.

    python benchmarks/ray_bench.py                # about 4 minutes on 2 cores
    python benchmarks/ray_bench.py --documents 60 # a smoke run

It writes a JSON Lines crawl of documents made of the project's own sentences (20 each), then runs,
each as a fresh `nuchter scan … --format parquet` process with the built-in encoder:
  1. the local scan, two threads (the strongest one-machine baseline);
  2. Ray, a cluster of one node with one CPU (one scoring actor, one thread);
  3. Ray, two nodes of one CPU each on this machine (two actors, one a node);
  4. the same two Ray set-ups on a crawl of one document: what Ray adds at start-up.
Wall time includes process start-up, Ray's connection and actor start, reading and writing; "after
start-up" takes off the seconds the same set-up needs for a crawl of one document.
Peak memory per actor is the largest resident set of a scoring actor process, sampled every 0.2 s.
Nothing here is a unit test: figures depend on the machine. Target: two nodes >= 1.7x one node.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus_sentences, draws  # noqa: E402  (this folder is on sys.path when run as a script)
from tests.ray_cluster import RAY_ENV, ray_cluster  # noqa: E402


def write_crawl(path: Path, documents: int, per_document: int = 20, seed: int = 7) -> int:
    rng = random.Random(seed)
    drawn = iter(draws(corpus_sentences(), documents * per_document, rng))
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(documents):
            text = " ".join(next(drawn) for _ in range(per_document))
            handle.write(json.dumps({"url": f"https://bench.test/{i}", "text": text}, ensure_ascii=False) + "\n")
    return documents * per_document


class ActorMemory:
    """Largest RSS of any Ray scoring actor process while it runs."""

    def __init__(self):
        self.peak_mb = 0.0
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        import psutil

        while self.running:
            for process in psutil.process_iter(["cmdline", "memory_info"]):
                cmdline = " ".join(process.info["cmdline"] or [])
                if "Scorer" in cmdline and process.info["memory_info"]:
                    self.peak_mb = max(self.peak_mb, process.info["memory_info"].rss / 2**20)
            time.sleep(0.2)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak_mb


def scan(crawl: Path, out: Path, *extra: str) -> float:
    env = {**os.environ, **RAY_ENV}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nuchter", "scan", str(crawl), "--out", str(out), "--format", "parquet",
                           "--model", "builtin", *extra], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: scan {' '.join(extra)}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300, help="documents of 20 sentences")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        crawl, tiny = work / "crawl.jsonl", work / "one.jsonl"
        sentences = write_crawl(crawl, args.documents)
        write_crawl(tiny, 1)
        rows = []
        local = "local `scan`, 2 threads"
        startup = {local: scan(tiny, work / "local-one", "--threads", "2")}
        rows.append((local, scan(crawl, work / "local", "--threads", "2"), None, startup[local]))
        for nodes in (1, 2):
            with ray_cluster(num_nodes=nodes, cpus_per_node=1) as (address, _):
                ray = ("--ray-address", address, "--workers", str(nodes), "--threads", "1")
                name = f"Ray, {nodes} node(s) of 1 CPU, {nodes} actor(s)"
                startup[name] = scan(tiny, work / f"ray{nodes}-one", *ray)
                memory = ActorMemory()
                seconds = scan(crawl, work / f"ray{nodes}", *ray)
                rows.append((name, seconds, memory.stop(), startup[name]))
        print(f"{args.documents} documents, {sentences} sentences, built-in encoder\n")
        print("| run | seconds | sentences/s | sentences/s after start-up | peak MB per actor |\n|---|---|---|---|---|")
        rates = []
        for name, seconds, peak, start in rows:
            rates.append((sentences / seconds, sentences / max(seconds - start, 1e-9)))
            print(f"| {name} | {seconds:.1f} | {rates[-1][0]:.1f} | {rates[-1][1]:.1f} | {'' if peak is None else f'{peak:.0f}'} |")
        print(f"\ntwo nodes / one node: {rates[2][0] / rates[1][0]:.2f}x, after start-up {rates[2][1] / rates[1][1]:.2f}x "
              f"(target >= 1.7x); two nodes / local scan: {rates[2][0] / rates[0][0]:.2f}x")
        print("\nstart-up, a crawl of one document:")
        for name, seconds in startup.items():
            print(f"- {name}: {seconds:.1f} s")


if __name__ == "__main__":
    main()
