"""Speed and memory of nuchter's serving paths, printed side by side.

    python benchmarks/bench.py                 # full run (a few minutes on 2 cores)
    python benchmarks/bench.py --quick         # smaller corpus, for a smoke run

It generates Dutch documents from the project's own labelled sentences, then
measures, each in a fresh process:
  1. `nuchter scan` with the built-in encoder (int8 ONNX, trimmed vocabulary),
     sentences alone (its page context switched off: same weights);
  2. the same as shipped, with page context (as its config says: the neighbouring
     sentences as a second segment, about three times the tokens, or as vectors of
     sentences encoded once);
  3. a *batched* `transformers.pipeline("text-classification", batch_size=32)`
     over the same sentences, alone, on the same fine-tuned model in PyTorch
     fp32 (the torch folder `python -m nuchter.training.build_builtin` leaves in the cache),
     and beside it nuchter's own `predict()` on the same sentences, model load
     excluded for both (like for like; `scan` also pays start-up and I/O);
     the two alternate, --repeats times, and the best run of each counts;
  4. `nuchter scan --model builtin-fast` (the linear n-gram model);
  5. the start-up of `nuchter score "<one paragraph>"` with the built-in model.
Targets: encoder >= 300 sentences/s (>= 200 with context) and >= 3x the
batched pipeline; start-up <= 1.0 s; peak memory <= 600 MB; fast model >= 3,000
sentences/s. Nothing here is a unit test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAGRAPH = (
    "Kurkuma is een wortel uit Azië die al eeuwen in de keuken wordt gebruikt. "
    "Volgens onze klanten verdwijnt elke ontsteking binnen een week, zonder bijwerkingen. "
    "Het bewijs bij mensen is nog beperkt. Bestel vandaag nog met tien procent korting!"
)


def corpus_sentences() -> list[str]:
    """The project's own round-1 sentences that end like sentences: material for synthetic documents."""
    sentences = []
    for path in sorted((ROOT / "data" / "original").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            if text[-1:] in ".!?":
                sentences.append(text)
    return sentences


def draws(sentences: list[str], count: int, rng: random.Random) -> list[str]:
    """``count`` sentences in random order, none twice until all have been used: a model that encodes a
    repeated sentence once (page context as vectors) must not gain from repeats real pages rarely have."""
    out: list[str] = []
    while len(out) < count:
        pool = list(sentences)
        rng.shuffle(pool)
        out += pool[: count - len(out)]
    return out


def generate_corpus(folder: Path, documents: int, per_document: int, seed: int = 7) -> int:
    """Documents made of the project's own sentences, shuffled; returns the sentence count."""
    rng = random.Random(seed)
    drawn = iter(draws(corpus_sentences(), documents * per_document, rng))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(documents):
        body = " ".join(next(drawn) for _ in range(per_document))
        (folder / f"doc{i:04}.txt").write_text(body + "\n", encoding="utf-8")
    return documents * per_document


PEAK_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the largest process it started (workers included), and stdout."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024, done.stdout


PIPELINE_BATCHED = """
import sys, time, json
from pathlib import Path
import torch
from transformers import pipeline
sentences = json.loads(Path(sys.argv[2]).read_text())
prefix = sys.argv[3]
clf = pipeline("text-classification", model=sys.argv[1], device=-1, truncation=True, max_length=128)
started = time.perf_counter()
clf([prefix + s for s in sentences], batch_size=32)
print(len(sentences) / (time.perf_counter() - started))
"""


NUCHTER_IN_PROCESS = """
import sys, time, json
from pathlib import Path
from nuchter.classify import load_classifier
sentences = json.loads(Path(sys.argv[2]).read_text())
classifier = load_classifier(sys.argv[1])
classifier.predict(sentences[:8])
started = time.perf_counter()
classifier.predict(sentences)
print(len(sentences) / (time.perf_counter() - started))
"""
"""The like-for-like twin of PIPELINE_BATCHED: nuchter's own batched scoring of the same sentences,
model load excluded as it is for the pipeline."""


NUCHTER_PAGES_IN_PROCESS = """
import sys, time
from pathlib import Path
from nuchter.classify import load_classifier
from nuchter.inputs import page_contexts, wants_context
from nuchter.segment import SENTENCE, segment
classifier = load_classifier(sys.argv[1])
texts, contexts = [], []
for path in sorted(Path(sys.argv[2]).glob("*.txt")):
    own = [s.text for s in segment(path.read_text(encoding="utf-8")) if s.kind == SENTENCE]
    texts += own
    contexts += page_contexts(own)
reads = wants_context(classifier)
classifier.predict(texts[:8], contexts=contexts[:8] if reads else None)
started = time.perf_counter()
classifier.predict(texts, contexts=contexts if reads else None)
print(len(texts) / (time.perf_counter() - started))
"""
"""`predict()` in-process on exactly the sentences a scan of the folder scores, with the page context the
model reads (as the scan builds it); model load and segmenting excluded: what the scan's own overhead
(start-up, reading, segmenting, writing) is measured against."""


def ceiling_rate(env: dict) -> float:
    """The int8 weight-products bound of `ceiling.py`, measured in this run."""
    _, _, out = run_measured([sys.executable, str(ROOT / "benchmarks" / "ceiling.py")], env)
    for line in out.splitlines():
        if line.startswith("| weight products only, int8"):
            return float(line.strip().strip("|").split("|")[-1])
    raise SystemExit(f"ceiling.py printed no int8 bound:\n{out}")


def sentences_of(folder: Path, limit: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from nuchter.segment import SENTENCE, segment

    found = []
    for path in sorted(folder.glob("*.txt")):
        found += [s.text for s in segment(path.read_text(encoding="utf-8")) if s.kind == SENTENCE]
        if len(found) >= limit:
            break
    return found[:limit]


def with_context(builtin: Path, target: Path, context: str) -> Path:
    """The built-in model's files with page context set: same weights, other input lengths."""
    shutil.copytree(builtin, target)
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config["nuchter_inputs"] = {**config.get("nuchter_inputs", {}), "context": context}
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return target


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from nuchter.store import BUILTIN_DIR
    from nuchter.store import builtin_source_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 documents for the encoder, 200 for the fast model")
    parser.add_argument("--documents", type=int, default=150, help="documents of 20 sentences for the encoder runs")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternated runs of the pipeline and of nuchter's predict(), best of each [default: 3]")
    parser.add_argument("--torch-model", type=Path, default=None,
                        help="PyTorch folder of the built-in model for the pipeline baseline [default: the build cache]")
    args = parser.parse_args()
    documents = 60 if args.quick else args.documents
    nuchter = [sys.executable, "-m", "nuchter"]
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    rows, targets = [], []
    with tempfile.TemporaryDirectory(prefix="nuchter-bench-") as tmp:
        work = Path(tmp)
        total = generate_corpus(work / "corpus", documents, 20)
        print(f"corpus: {documents} documents, {total} sentences", file=sys.stderr)

        encoder_rate, context_rate, shipped_model = 0.0, 0.0, None
        shipped = json.loads((BUILTIN_DIR / "config.json").read_text())["nuchter_inputs"]["context"]
        for context in ("none", shipped):
            model = with_context(BUILTIN_DIR, work / f"builtin-{context}", context)
            out = work / f"{context}.jsonl"
            seconds, peak, _ = run_measured(nuchter + ["scan", str(work / "corpus"), "--model", str(model),
                                                       "--out", str(out)], env)
            scored = sum(1 for _ in open(out, encoding="utf-8"))
            if context == "none":
                encoder_rate = scored / seconds
                rows.append(("nuchter scan, built-in encoder, sentences alone", scored, encoder_rate, peak))
                targets.append(("built-in encoder >= 300 sentences/s", encoder_rate >= 300))
            else:
                shipped_model = model
                context_rate = scored / seconds
                rows.append((f"nuchter scan, built-in encoder with page context as {context} (shipped)", scored,
                             context_rate, peak))
                targets.append(("with context >= 200 sentences/s", context_rate >= 200))
            targets.append((f"peak memory <= 600 MB ({context})", peak <= 600))

        predict_runs = []
        for _ in range(args.repeats):
            _, _, out = run_measured([sys.executable, "-c", NUCHTER_PAGES_IN_PROCESS, str(shipped_model),
                                      str(work / "corpus")], env)
            predict_runs.append(float(out.strip().splitlines()[-1]))
        pages_rate = max(predict_runs)
        rows.append((f"nuchter predict(), the scan's {total} sentences with page context", total, pages_rate, 0.0))
        five = [(f"scan >= 90 % of in-process predict() on the same sentences ({context_rate:.1f} / {pages_rate:.1f} "
                 f"= {context_rate / pages_rate:.0%})", context_rate >= 0.9 * pages_rate)]
        bound = ceiling_rate(env)
        rows.append(("weight products alone, int8 (ceiling.py)", 0, bound, 0.0))

        source = args.torch_model or builtin_source_dir()
        texts = sentences_of(work / "corpus", 1000)
        (work / "subset.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        if (source / "model.safetensors").is_file():
            prefix = json.loads((BUILTIN_DIR / "config.json").read_text())["nuchter_inputs"]["prefix"]
            # Alternated, best of --repeats each: the pipeline's speed moves more between runs than
            # nuchter's, and its best run is the strongest baseline.
            pipeline_runs, own_runs, peaks = [], [], {"pipeline": 0.0, "own": 0.0}
            for _ in range(args.repeats):
                _, peak, out = run_measured([sys.executable, "-c", PIPELINE_BATCHED, str(source),
                                             str(work / "subset.json"), prefix], env)
                pipeline_runs.append(float(out.strip().splitlines()[-1]))
                peaks["pipeline"] = max(peaks["pipeline"], peak)
                _, peak, out = run_measured([sys.executable, "-c", NUCHTER_IN_PROCESS, str(work / "builtin-none"),
                                             str(work / "subset.json")], env)
                own_runs.append(float(out.strip().splitlines()[-1]))
                peaks["own"] = max(peaks["own"], peak)
            pipeline_rate, own_rate = max(pipeline_runs), max(own_runs)
            spread = lambda runs: f" (runs: {', '.join(f'{r:.1f}' for r in runs)})" if len(runs) > 1 else ""  # noqa: E731
            rows.append(("transformers.pipeline, batch_size=32, same model fp32", len(texts), pipeline_rate,
                         peaks["pipeline"]))
            rows.append(("nuchter predict(), same sentences, load excluded", len(texts), own_rate, peaks["own"]))
            print(f"pipeline{spread(pipeline_runs)}; nuchter predict(){spread(own_runs)}: best of each taken",
                  file=sys.stderr)
            targets.append((f"nuchter scan (start-up included) >= 3x batched pipeline ({encoder_rate / pipeline_rate:.1f}x)",
                            encoder_rate >= 3 * pipeline_rate))
            five.append((f"predict() >= 80 % of ceiling.py ({own_rate:.1f} / {bound:.1f} = {own_rate / bound:.0%}; "
                         f"with page context {pages_rate / bound:.0%})", own_rate >= 0.8 * bound))
            five.append((f">= 3x the batched pipeline like for like, real fine-tuned PyTorch copy "
                         f"({own_rate:.1f} / {pipeline_rate:.1f} = {own_rate / pipeline_rate:.2f}x)",
                         own_rate >= 3 * pipeline_rate))
        else:
            print(f"no PyTorch copy of the built-in model at {source}: run python -m nuchter.training.build_builtin "
                  "or pass --torch-model; skipping the pipeline baseline", file=sys.stderr)

        fast_docs = 200 if args.quick else 1000
        generate_corpus(work / "fast", fast_docs, 20, seed=11)
        seconds, peak, _ = run_measured(nuchter + ["scan", str(work / "fast"), "--model", "builtin-fast",
                                                   "--out", str(work / "f.jsonl")], env)
        fast_rate = sum(1 for _ in open(work / "f.jsonl", encoding="utf-8")) / seconds
        rows.append(("nuchter scan --model builtin-fast (linear)", round(fast_rate * seconds), fast_rate, peak))

        startup = []
        for _ in range(5):
            seconds, _, _ = run_measured(nuchter + ["score", PARAGRAPH, "--format", "json"], env)
            startup.append(seconds)
        five.append((f"start-up <= 1.0 s, median of 5 ({statistics.median(startup):.2f} s)",
                     statistics.median(startup) <= 1.0))
        five.append((f"builtin-fast >= 3,000 sentences/s ({fast_rate:,.0f})", fast_rate >= 3000))

    print(f"\n{'path':<56}{'sentences':>10}{'sentences/s':>14}{'peak MB':>10}")
    for name, count, rate, peak in rows:
        print(f"{name:<56}{count:>10}{rate:>14.1f}{peak:>10.0f}")
    print(f"\nnuchter score start-up (built-in encoder, one paragraph): median {statistics.median(startup):.2f} s "
          f"(min {min(startup):.2f}, max {max(startup):.2f}) over {len(startup)} runs")
    for name, met in targets:
        print(f"{name}: {'met' if met else 'NOT met'}")
    print("\nthe five figures of issue 22, side by side in this run:")
    for name, met in five:
        print(f"- {name}: {'met' if met else 'NOT met'}")
    print("throughput: scored sentences over wall time, process start-up included; "
          "peak MB: resident memory of the largest single process of that run (ru_maxrss)")


if __name__ == "__main__":
    main()
