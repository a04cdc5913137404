"""What `nuchter score --explain` costs: a 20-sentence paragraph, each run in a fresh process.

    python benchmarks/explain_bench.py              # built-in encoder and builtin-fast, 5 runs each
    python benchmarks/explain_bench.py --runs 3

The paragraph is 20 of the project's own sentences (round 1, shuffled with a
fixed seed), scored with and without --explain; wall time includes start-up,
as a user waits for it. Target: <= 3 s with --explain on the built-in model.
Nothing here is a unit test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import corpus_sentences  # noqa: E402  one source of sentences for every benchmark


def paragraph(count: int = 20, seed: int = 3) -> str:
    sentences = corpus_sentences()
    random.Random(seed).shuffle(sentences)
    return " ".join(sentences[:count])


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alinea.txt"
        path.write_text(paragraph(), encoding="utf-8")
        print(f"{'model':<14}{'explain':>9}{'median s':>10}{'range':>14}{'sentences':>11}{'with evidence':>15}")
        for model in ("builtin", "builtin-fast"):
            for explain in (False, True):
                command = [sys.executable, "-m", "nuchter", "score", "--model", model, "--format", "json", "--file", str(path)]
                runs = [timed(command + (["--explain"] if explain else [])) for _ in range(args.runs)]
                seconds = [s for s, _ in runs]
                sentences = json.loads(runs[-1][1])["sentences"]
                explained = sum(bool(s.get("evidence")) for s in sentences) if explain else 0
                print(f"{model:<14}{'yes' if explain else 'no':>9}{statistics.median(seconds):>10.2f}"
                      f"{f'{min(seconds):.2f}–{max(seconds):.2f}':>14}{len(sentences):>11}"
                      f"{(str(explained) if explain else '—'):>15}")


if __name__ == "__main__":
    main()
