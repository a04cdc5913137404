"""The warm-start experiment of the real-page issue: do a few hundred real labels help, within minutes?

The real-page development set is split by site into two halves (sites alternating in the order they
appear). A model is retrained on one half the way a user would retrain on their own labelled pages
(`nuchter train --warm-start … --repeat 3 --mix-corpus data/ --epochs 1`) and scored on the other half,
then the reverse. This is the only training use of the development set: the halves are written to a
temporary folder, never into the repository, and the retrained models are deleted, never shipped.

    python -m nuchter.training.warm_start_experiment --model runs/r3-page-s42 --half a
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

from nuchter.training.corpus import split_of

REALDEV = Path(__file__).resolve().parents[2] / "shared" / "realdev" / "realdev.jsonl"


def halves(path: Path) -> dict[str, list[dict]]:
    """Rows of the set in two halves by site, sites alternating; pages stay whole and in order."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    sites: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        sites[urlparse(row["url"]).netloc.removeprefix("www.")].append(row)
    out: dict[str, list[dict]] = {"a": [], "b": []}
    for i, site_rows in enumerate(sites.values()):
        out["a" if i % 2 == 0 else "b"] += site_rows
    return out


def train_doc_id(url: str) -> str:
    """A document id for a page that puts it in the train split: the whole half is training data."""
    salt = 0
    while split_of(f"{url}#{salt}") != "train":
        salt += 1
    return f"{url}#{salt}"


def write(rows: list[dict], path: Path, *, for_training: bool) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            out = {"text": row["text"], "label": row["label"], "url": row["url"], "register": row["register"]}
            if for_training:
                out["doc_id"] = train_doc_id(row["url"])
            handle.write(json.dumps(out, ensure_ascii=False) + "\n")
    return path


def run(model: Path, half: str, corpus: Path, *, repeat: int = 3, ratio: float = 3.0, epochs: float = 1.0,
        threads: int | None = None, log=print) -> dict:
    from nuchter.training.config import TrainConfig
    from nuchter.training.evaluation import evaluate_pages, paired_difference
    from nuchter.training.train import train

    parts = halves(REALDEV)
    other = "b" if half == "a" else "a"
    work = Path(tempfile.mkdtemp(prefix=f"nuchter-warm-{half}-"))
    try:
        trained_on = write(parts[half], work / f"half-{half}.jsonl", for_training=True)
        scored_on = write(parts[other], work / f"half-{other}.jsonl", for_training=False)
        before = evaluate_pages(str(model), [scored_on], backend="torch", threads=threads)
        config = TrainConfig(warm_start=str(model), data_repeat=repeat, mix_corpus=str(corpus), corpus_ratio=ratio,
                             epochs=epochs, threads=threads, export_onnx=False)
        outcome = train(config, [trained_on], output=work / "model", progress=False, log=log)
        after = evaluate_pages(str(outcome.path), [scored_on], backend="torch", threads=threads)
        change = paired_difference(after.gold, after.predicted, before.predicted, after.pages)
        return {
            "trained_on": f"half {half}: {len(parts[half])} sentences, "
                          f"{len({r['url'] for r in parts[half]})} pages, each repeated {repeat} times",
            "scored_on": f"half {other}: {len(parts[other])} sentences, {len({r['url'] for r in parts[other]})} pages",
            "before": {"macro_f1": before.metrics["macro_f1"], "interval": before.metrics["macro_f1_interval"]},
            "after": {"macro_f1": after.metrics["macro_f1"], "interval": after.metrics["macro_f1_interval"]},
            "gain": change["difference"], "gain_interval": change["interval"],
            "recall_after": {label: m["recall"] for label, m in after.metrics["per_label"].items()},
            "minutes": round(outcome.metrics["duration_s"] / 60, 1),
            "dev_macro_f1_after": outcome.metrics["dev"]["macro_f1"],
            "test_macro_f1_after": outcome.metrics["test"]["macro_f1"],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nuchter.training.warm_start_experiment",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a fine-tuned PyTorch model folder to start from")
    parser.add_argument("--half", choices=("a", "b"), required=True, help="train on this half, score the other")
    parser.add_argument("--corpus", type=Path, default=Path("data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=3.0, help="corpus rows per repeated real row")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if not REALDEV.is_file():
        parser.error(f"no real-page development set at {REALDEV}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args.model, args.half, args.corpus, repeat=args.repeat, ratio=args.ratio, epochs=args.epochs,
                 threads=args.threads)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
