"""Speed and memory of nuchter's serving paths, printed side by side.

    python benchmarks/bench.py                 # full run (about 10 minutes on 2 cores)
    python benchmarks/bench.py --quick         # smaller corpus, for a smoke run

It generates a corpus of Dutch documents from the project's own labelled
sentences, then measures, each in a fresh process:
  1. `nuchter scan` with the built-in model over the whole corpus;
  2. `nuchter scan` with a BERT-base-sized model (random weights) through the
     serving path (ONNX Runtime int8);
  3. the same sentences through a plain `transformers.pipeline("text-classification")`
     loop on the same BERT-base-sized model in PyTorch;
  4. `nuchter score --file` on 10 MB of text (batches keep memory flat);
  5. the start-up of `nuchter score "<one paragraph>"` with the built-in model.
BERT-base-sized runs use a subset of the sentences (they are ~100x slower).
Targets: serving path >= 2.5x the plain pipeline; built-in >= 2,000 sentences/s.
Nothing here is a unit test: figures depend on the machine.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAGRAPH = (
    "Kurkuma is een wortel uit Azië die al eeuwen in de keuken wordt gebruikt. "
    "Volgens onze klanten verdwijnt elke ontsteking binnen een week, zonder bijwerkingen. "
    "Het bewijs bij mensen is nog beperkt. Bestel vandaag nog met tien procent korting!"
)


def generate_corpus(folder: Path, documents: int, per_document: int, seed: int = 7) -> int:
    """Documents made of the project's own sentences, shuffled; returns the sentence count."""
    sentences = []
    for path in sorted((ROOT / "data" / "original").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            if text[-1:] in ".!?":
                sentences.append(text)
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(documents):
        body = " ".join(rng.choice(sentences) for _ in range(per_document))
        (folder / f"doc{i:04}.txt").write_text(body + "\n", encoding="utf-8")
    return documents * per_document


PEAK_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the largest process it started (workers included), and stdout.

    A fresh wrapper process runs the command, so its children's peak is this command's alone.
    """
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024, done.stdout


def build_base_sized_model(folder: Path) -> Path:
    """BERT-base shape (12 layers, 768 hidden) with random weights and a tokenizer trained on our text."""
    code = f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
import json
from training.scratch import train_tokenizer, small_bert
texts = [json.loads(l)["text"] for p in sorted(Path({str(ROOT / 'data' / 'original')!r}).glob("*.jsonl")) for l in p.read_text().splitlines()]
tok = train_tokenizer(texts, vocab_size=30000)
net = small_bert(tok, layers=12, hidden=768, heads=12, intermediate=3072, max_positions=512)
out = Path({str(folder)!r}); tok.save_pretrained(out); net.save_pretrained(out)
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return folder


PIPELINE_LOOP = """
import sys, time, json
from pathlib import Path
from transformers import pipeline
sentences = json.loads(Path(sys.argv[2]).read_text())
clf = pipeline("text-classification", model=sys.argv[1], device=-1, truncation=True, max_length=128)
started = time.perf_counter()
for sentence in sentences:
    clf(sentence)
print(len(sentences) / (time.perf_counter() - started))
"""


def sentences_of(folder: Path, limit: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from model.segment import SENTENCE, segment

    found = []
    for path in sorted(folder.glob("*.txt")):
        found += [s.text for s in segment(path.read_text(encoding="utf-8")) if s.kind == SENTENCE]
        if len(found) >= limit:
            break
    return found[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 documents and 200 BERT-base sentences")
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--base-sentences", type=int, default=1000, help="sentences for the BERT-base-sized runs")
    args = parser.parse_args()
    documents = 100 if args.quick else args.documents
    base_sentences = 200 if args.quick else args.base_sentences
    nuchter = [sys.executable, "-m", "model"]
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="nuchter-bench-") as tmp:
        work = Path(tmp)
        total = generate_corpus(work / "corpus", documents, 20)
        print(f"corpus: {documents} documents, {total} sentences", file=sys.stderr)

        seconds, peak, _ = run_measured(nuchter + ["scan", str(work / "corpus"), "--out", str(work / "b.jsonl")], env)
        scored = sum(1 for _ in open(work / "b.jsonl", encoding="utf-8"))
        rows.append(("nuchter scan, built-in model", scored, scored / seconds, peak))

        subset = work / "subset"
        subset.mkdir()
        texts = sentences_of(work / "corpus", base_sentences)
        per_doc = 20
        for i in range(0, len(texts), per_doc):
            (subset / f"doc{i // per_doc:04}.txt").write_text(" ".join(texts[i : i + per_doc]) + "\n", encoding="utf-8")
        (work / "subset.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        print("building a BERT-base-sized model (random weights) …", file=sys.stderr)
        base = build_base_sized_model(work / "bert-base")
        subprocess.run(nuchter + ["export", str(base)], check=True, capture_output=True, env={**os.environ, **env})
        seconds, peak, _ = run_measured(nuchter + ["scan", str(subset), "--model", str(base), "--out", str(work / "o.jsonl")], env)
        scored = sum(1 for _ in open(work / "o.jsonl", encoding="utf-8"))
        rows.append(("nuchter scan, BERT-base size, ONNX int8", scored, scored / seconds, peak))
        serving_rate = scored / seconds

        _, peak, out = run_measured([sys.executable, "-c", PIPELINE_LOOP, str(base), str(work / "subset.json")], env)
        pipeline_rate = float(out.strip().splitlines()[-1])
        rows.append(("transformers.pipeline loop, same model", len(texts), pipeline_rate, peak))

        big = work / "big.txt"
        corpus_text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((work / "corpus").glob("*.txt")))
        big.write_text((corpus_text * (10_000_000 // len(corpus_text) + 1))[:10_000_000], encoding="utf-8")
        seconds, peak, out = run_measured(nuchter + ["score", "--file", str(big), "--format", "jsonl"], env)
        rows.append(("nuchter score --file, 10 MB of text", out.count("\n"), out.count("\n") / seconds, peak))

        startup = []
        for _ in range(5):
            seconds, _, _ = run_measured(nuchter + ["score", PARAGRAPH, "--format", "json"], env)
            startup.append(seconds)

    print(f"\n{'path':<44}{'sentences':>10}{'sentences/s':>14}{'peak MB':>10}")
    for name, count, rate, peak in rows:
        print(f"{name:<44}{count:>10}{rate:>14.1f}{peak:>10.0f}")
    print(f"\nnuchter score start-up (built-in model, one paragraph): median {statistics.median(startup):.2f} s "
          f"(min {min(startup):.2f}, max {max(startup):.2f}) over {len(startup)} runs")
    speedup = serving_rate / pipeline_rate
    print(f"serving path vs plain pipeline: {speedup:.1f}x (target >= 2.5x) -> {'met' if speedup >= 2.5 else 'NOT met'}")
    builtin = rows[0][2]
    print(f"built-in model: {builtin:.0f} sentences/s (target >= 2,000) -> {'met' if builtin >= 2000 else 'NOT met'}")
    print("peak MB: resident memory of the largest single process of that run (ru_maxrss)")


if __name__ == "__main__":
    main()
