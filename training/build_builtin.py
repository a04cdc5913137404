"""Rebuild the built-in model that ships inside the package, by measurement.

    python -m training.build_builtin            # data/ → model/builtin/

Trains (a) a small transformer from scratch with `nuchter train`'s own code
path and (b) the linear n-gram model, compares them on the dev split and
ships (a) if it comes within 0.02 macro-F1 of the best, else the better one.
Final figures are on the test split, which no choice looks at. Seeds are
fixed, so a rebuild on the same data and versions gives the same choice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from model.store import BUILTIN_DIR
from training import card, linear
from training.card import LINEAR
from training.config import TrainConfig
from training.corpus import load_for_training
from training.train import train

MAX_BYTES = 25 * 1024 * 1024
MARGIN = 0.02
TRANSFORMER = TrainConfig(
    base_model="scratch", epochs=12, learning_rate=1e-3, batch_size=32, max_length=96,
    early_stopping_patience=3, scratch_vocab_size=8000, scratch_layers=2, scratch_hidden=128, scratch_heads=2,
)
LINEAR_C = (1.0, 4.0, 10.0)


def comparison_table(rows: dict[str, dict]) -> str:
    lines = ["| candidate | dev macro-F1 | test macro-F1 |", "|---|---|---|"]
    lines += [f"| {name} | {r['dev']['macro_f1']:.3f} | {r['test']['macro_f1']:.3f} |" for name, r in rows.items()]
    return "\n".join(lines)


def build(data: Path, out: Path, log=print) -> dict:
    corpus = load_for_training([data])
    train_set, dev, test = corpus.split("train"), corpus.split("dev"), corpus.split("test")
    work = Path(tempfile.mkdtemp(prefix="nuchter-builtin-"))
    try:
        log("(a) small transformer from scratch …")
        transformer = train(TRANSFORMER, [data], output=work / "transformer", progress=False, log=log)
        rows = {"(a) transformer from scratch": transformer.metrics}

        log("(b) linear model over word and character n-grams …")
        best_c, best = None, None
        for c in LINEAR_C:
            started = time.time()
            fitted = linear.fit(train_set, c=c)
            metrics = {"dev": linear.evaluate(fitted, dev), "test": linear.evaluate(fitted, test),
                       "duration_s": round(time.time() - started, 1)}
            rows[f"(b) linear, C={c:g}"] = metrics
            log(f"    C={c:g}: dev macro-F1 {metrics['dev']['macro_f1']:.3f}")
            if best is None or metrics["dev"]["macro_f1"] > best[1]["dev"]["macro_f1"]:
                best_c, best = c, (fitted, metrics)
        transformer_dev = transformer.metrics["dev"]["macro_f1"]
        linear_dev = best[1]["dev"]["macro_f1"]
        ship_transformer = transformer_dev >= linear_dev - MARGIN
        choice = "(a) transformer from scratch" if ship_transformer else f"(b) linear, C={best_c:g}"
        log(f"dev macro-F1: transformer {transformer_dev:.3f}, linear {linear_dev:.3f} → ship {choice}")

        # The corpus is mostly written for the project; the seed texts are the only real
        # pages and all sit in train. Refit the shipped recipe without them to see real text.
        seeds = [e for e in corpus.examples if e.doc_id.startswith("seed-")]
        without_seeds = [e for e in train_set if not e.doc_id.startswith("seed-")]
        real_text = linear.evaluate(linear.fit(without_seeds, c=best_c), seeds) if seeds else None
        if real_text:
            log(f"real-text check: linear without the seed documents, on the {len(seeds)} seed sentences: "
                f"macro-F1 {real_text['macro_f1']:.3f}")

        staged = work / "builtin"
        if ship_transformer:
            shutil.copytree(transformer.path, staged)
            metrics, config = transformer.metrics, asdict(TRANSFORMER)
        else:
            linear.save(best[0], staged, c=best_c)
            counts = corpus.counts()
            metrics = {**best[1], "base_model": LINEAR, "seed": 42,
                       "data": {"files": [str(data)], "counts": counts,
                                "documents": len({e.doc_id for e in corpus.examples})}}
            config = {"base_model": LINEAR, "C": best_c, "features": linear.FEATURES,
                      "class_weight": "balanced", "seed": 42}
            (staged / "training_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if real_text:
            metrics = {**metrics, "seed_texts_held_out": real_text}
        metrics = {**metrics, "choice": choice, "comparison": {k: {s: v[s]["macro_f1"] for s in ("dev", "test")}
                                                              for k, v in rows.items()}}
        (staged / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        extra = (
            "\n## How this model was chosen\n\n"
            "Built by `python -m training.build_builtin`: the candidates below were trained on the "
            f"train split and compared on dev; the transformer ships if it is within {MARGIN} dev "
            "macro-F1 of the best alternative, otherwise the better model ships. Test figures are "
            f"reported, never used to choose.\n\n{comparison_table(rows)}\n\nShipped: **{choice}**.\n\n"
            "The linear model rebuilds bit for bit (scikit-learn's solver is deterministic). The "
            "transformer candidate's figures move by about 0.01 between rebuilds, because the "
            "`tokenizers` WordPiece trainer breaks frequency ties in a random order.\n"
            + (
                "\n## Real text\n\nThe figures above are on the project's corpus, mostly written for it and "
                "cleaner than real pages. The three seed texts are the only real pages, and they sit in the "
                f"train split. Refitted without them, the same recipe scores macro-F1 "
                f"**{real_text['macro_f1']:.3f}** (accuracy {real_text['accuracy']:.3f}) on their "
                f"{sum(real_text['per_label'][l]['support'] for l in real_text['per_label'])} sentences "
                "(F1 " + ", ".join(f"{l} {v['f1']:.2f}" for l, v in real_text["per_label"].items())
                + "): expect that order of accuracy on real web text.\n"
                if real_text else ""
            )
        )
        (staged / "README.md").write_text(card.render(metrics, {**config, "base_model": config["base_model"]}, extra),
                                          encoding="utf-8")
        size = sum(p.stat().st_size for p in staged.rglob("*") if p.is_file())
        if size > MAX_BYTES:
            raise SystemExit(f"the built-in model is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")
        previous = out.with_name(out.name + ".old")
        if out.exists():
            os.replace(out, previous)
        shutil.copytree(staged, out)
        shutil.rmtree(previous, ignore_errors=True)
        log(f"wrote {out} ({size / 1e6:.1f} MB)")
        return metrics
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=BUILTIN_DIR)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    build(args.data, args.out)


if __name__ == "__main__":
    main()
