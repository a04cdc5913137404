"""`nuchter scan --ray` against the local scan: sentences/s on one and two Ray nodes, start-up, memory.

    python benchmarks/ray_bench.py                          # about 4 minutes on 2 fast cores
    python benchmarks/ray_bench.py --documents 600 --rounds 3 # the README's figures (about 20 minutes)
    python benchmarks/ray_bench.py --documents 60              # a smoke run

It writes a JSON Lines crawl of documents made of the project's own sentences (20 each), then runs,
each as a fresh `nuchter scan … --format parquet` process with the built-in encoder:
  1. the local scan, two threads (the strongest one-machine baseline);
  2. Ray, a cluster of one node with one CPU (one scoring actor, one thread);
  3. Ray, two nodes of one CPU each on this machine (two actors, one a node);
  4. the same two Ray set-ups on a crawl of one document: what Ray adds at start-up.
Each Ray node is pinned to a core of its own (node i to core i: its raylet, workers and actors, and on
the head the GCS and the driver), so two nodes on this machine behave like two 1-core machines and
one node like one: unpinned, a one-node cluster's driver, readers and Ray daemons run on the second
core for free, and the two-node figure measures this machine's sharing, not scaling (--shared-cores
runs that way, as the figures before 2026-12-08 were taken).
Steps 2-4 run --rounds times in turn, and the two-node ratio is the median over rounds: on a shared
machine one run's speed drifts by more than the margin the target leaves.
Wall time includes process start-up, Ray's connection and actor start, reading and writing; "after
start-up" takes off the seconds the same set-up needs for a crawl of one document.
Peak memory per actor is the largest resident set of a scoring actor process, sampled every second,
beside the CPU seconds each kind of process spent during the scan.
Nothing here is a unit test: figures depend on the machine. Target: two nodes >= 1.7x one node.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import corpus_sentences, draws  # noqa: E402  (this folder is on sys.path when run as a script)
from tests.ray_cluster import RAY_ENV, on_cores, ray_cluster  # noqa: E402


def write_crawl(path: Path, documents: int, per_document: int = 20, seed: int = 7) -> int:
    rng = random.Random(seed)
    drawn = iter(draws(corpus_sentences(), documents * per_document, rng))
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(documents):
            text = " ".join(next(drawn) for _ in range(per_document))
            handle.write(json.dumps({"url": f"https://bench.test/{i}", "text": text}, ensure_ascii=False) + "\n")
    return documents * per_document


PROVISIONAL = ("other Ray workers (reading)", "other Ray processes")
"""Ray starts idle workers and later names them for what they run (an actor, a task): look again."""


def process_kind(cmdline: str) -> str | None:
    program = os.path.basename(cmdline.split(" ", 1)[0])
    if "Scorer" in cmdline:
        return "scoring actors"
    if "nuchter scan" in cmdline:
        return "the driver (scan process)"
    if program == "raylet":
        return "raylets"
    if program == "gcs_server":
        return "GCS"
    if cmdline.startswith("ray::"):
        return "other Ray workers (reading)"
    return "other Ray processes" if "ray" in cmdline else None


class ProcessSampler:
    """While a scan runs: the largest RSS of a scoring actor, and the CPU seconds each kind of process
    spends (where the two cores go besides scoring), once a second: the sampler must not take the CPU it
    measures. A worker's seconds count for what it ends up running."""

    def __init__(self, cores: set[int] | None = None):
        self.cores = cores
        self.peak_mb = 0.0
        self.actor_cores: set[tuple[int, ...]] = set()  # each scoring actor's allowed cores
        self.kinds: dict[int, str | None] = {}
        self.processes: dict[int, object] = {}
        self.before = self.snapshot()
        self.last = dict(self.before)
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def snapshot(self) -> dict[int, tuple[str, float]]:
        import psutil

        seen = {}
        for pid in psutil.pids():
            if pid not in self.kinds or self.kinds[pid] in PROVISIONAL:
                try:
                    process = self.processes.get(pid) or psutil.Process(pid)
                    self.kinds[pid] = None if pid == os.getpid() else process_kind(" ".join(process.cmdline()))
                    self.processes[pid] = process
                    if self.kinds[pid] == "scoring actors":  # named once, so its cores are read once
                        self.actor_cores.add(tuple(process.cpu_affinity()))
                except psutil.Error:
                    self.kinds[pid] = None
            kind = self.kinds[pid]
            if kind is None:
                continue
            try:
                process = self.processes[pid]
                times = process.cpu_times()
                if kind == "scoring actors":
                    self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
            except psutil.Error:
                continue
            seen[pid] = (kind, times.user + times.system)
        return seen

    def sample(self) -> None:
        if self.cores is not None:
            os.sched_setaffinity(0, self.cores)  # this thread only: it samples from the head's core
        while self.running:
            time.sleep(1.0)
            self.last.update(self.snapshot())

    def stop(self) -> tuple[float, dict[str, float]]:
        self.running = False
        self.thread.join()
        cpu: dict[str, float] = {}
        for pid, (kind, seconds) in self.last.items():
            cpu[kind] = cpu.get(kind, 0.0) + seconds - self.before.get(pid, (kind, 0.0))[1]
        return self.peak_mb, cpu


def scan(crawl: Path, out: Path, *extra: str, cores: set[int] | None = None) -> float:
    """Seconds for a `nuchter scan` process (on ``cores`` when given: the driver runs on the head)."""
    env = {**os.environ, **RAY_ENV}
    env.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nuchter", "scan", str(crawl), "--out", str(out), "--format", "parquet",
                           "--model", "builtin", *extra], capture_output=True, text=True, env=env,
                          preexec_fn=on_cores(cores))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: scan {' '.join(extra)}\n{done.stderr[-2000:]}")
    return seconds


def _progress(row: tuple, sentences: int) -> None:
    """A long run says how far it is: each set-up's figure as soon as it is measured."""
    name, seconds, _, start = row
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:.1f} s ({sentences / seconds:.1f} sentences/s; "
          f"start-up {start:.1f} s)", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300, help="documents of 20 sentences")
    parser.add_argument("--rounds", type=int, default=1, help="times the one-node and two-node scans are run, in turn")
    parser.add_argument("--shared-cores", action="store_true",
                        help="leave the Ray nodes unpinned, sharing every core of this machine")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if not args.shared_cores and len(cores) < 2:
        raise SystemExit("pinning two nodes to a core each needs two cores; run with --shared-cores")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        crawl, tiny = work / "crawl.jsonl", work / "one.jsonl"
        sentences = write_crawl(crawl, args.documents)
        write_crawl(tiny, 1)
        local = ("local `scan`, 2 threads", scan(crawl, work / "local", "--threads", "2"), None,
                 scan(tiny, work / "local-one", "--threads", "2"))
        _progress(local, sentences)
        rounds, cpu, placed = [], {}, {}
        for round_ in range(args.rounds):  # one node, then two, in turn: a drifting machine hits both alike
            rows = []
            for nodes in (1, 2):
                pin = None if args.shared_cores else [{cores[i]} for i in range(nodes)]
                head = None if pin is None else pin[0]
                with ray_cluster(num_nodes=nodes, cpus_per_node=1, pin=pin) as (address, _):
                    ray = ("--ray-address", address, "--workers", str(nodes), "--threads", "1")
                    name = f"Ray, {nodes} node{'s' if nodes > 1 else ''} of 1 CPU, {nodes} actor{'s' if nodes > 1 else ''}"
                    start = scan(tiny, work / f"ray{nodes}-one-{round_}", *ray, cores=head)
                    sampler = ProcessSampler(head)
                    seconds = scan(crawl, work / f"ray{nodes}-{round_}", *ray, cores=head)
                    peak, cpu[name] = sampler.stop()
                    placed[name] = sorted(sampler.actor_cores)
                    rows.append((name, seconds, peak, start))
                    _progress(rows[-1], sentences)
            rounds.append(rows)

        def rates(row):
            _, seconds, _, start = row
            return sentences / seconds, sentences / max(seconds - start, 1e-9)

        print(f"{args.documents} documents, {sentences} sentences, built-in encoder, {args.rounds} round(s); Ray nodes "
              f"{'share every core' if args.shared_cores else 'pinned to a core each (the driver on the head)'}\n")
        print("| run | seconds | sentences/s | sentences/s after start-up | peak MB per actor |\n|---|---|---|---|---|")
        for row in [local] + [row for rows in rounds for row in rows]:
            name, seconds, peak, _ = row
            wall, after = rates(row)
            print(f"| {name} | {seconds:.1f} | {wall:.1f} | {after:.1f} | {'' if peak is None else f'{peak:.0f}'} |")
        ratios = [(rates(two)[0] / rates(one)[0], rates(two)[1] / rates(one)[1]) for one, two in rounds]
        print("\ntwo nodes / one node, each round: " + ", ".join(f"{w:.2f}x (after start-up {a:.2f}x)" for w, a in ratios))
        print(f"median {statistics.median(w for w, _ in ratios):.2f}x, after start-up "
              f"{statistics.median(a for _, a in ratios):.2f}x (target >= 1.7x); two nodes / local scan: "
              f"{statistics.median(rates(two)[0] for _, two in rounds) / rates(local)[0]:.2f}x")
        print("\nCPU seconds by process during the last round's Ray scans (two cores give 2 s a second):")
        for name, kinds in cpu.items():
            print(f"- {name}: " + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in
                                            sorted(kinds.items(), key=lambda kv: -kv[1])))
        print("\ncores each scoring actor could run on: " + ", ".join(
            f"{name} {' and '.join(str(list(c)) for c in cores_)}" for name, cores_ in placed.items()))
        print("\nstart-up, a crawl of one document: " + ", ".join(
            f"{name} {start:.1f} s" for name, _, _, start in [local] + rounds[-1]))

if __name__ == "__main__":
    main()
