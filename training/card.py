"""Model cards in the Hugging Face format (YAML front matter + Markdown)."""

from __future__ import annotations

from nuchter.labels import LABELS
from nuchter.training.config import SCRATCH

LINEAR = "linear n-grams"


def metrics_table(metrics: dict) -> str:
    rows = ["| split | macro-F1 | accuracy | " + " | ".join(f"F1 {l}" for l in LABELS) + " |",
            "|---|---|---|" + "---|" * len(LABELS)]
    for split in ("dev", "test"):
        m = metrics.get(split)
        if m:
            per = " | ".join(f"{m['per_label'][l]['f1']:.3f}" for l in LABELS)
            rows.append(f"| {split} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} | {per} |")
    return "\n".join(rows)


def confusion_table(matrix_block: dict) -> str:
    labels = matrix_block["labels"]
    rows = ["| gold \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for label, row in zip(labels, matrix_block["rows_gold_columns_predicted"]):
        rows.append(f"| {label} | " + " | ".join(str(n) for n in row) + " |")
    return "\n".join(rows)


def render(metrics: dict, config: dict, extra: str = "") -> str:
    base = config["base_model"]
    front = ["---", "language: nl"]
    if base != LINEAR:
        front.append("library_name: transformers")
    front += ["pipeline_tag: text-classification", "tags: [nuchter, health-misinformation, dutch]"]
    if base not in (SCRATCH, LINEAR):
        front.append(f"base_model: {base}")
    front.append("---")
    if base == LINEAR:
        origin = ("a linear model (TF-IDF over word 1–2-grams and character 2–5-grams, class-weighted "
                  "logistic regression) built by `python -m nuchter.training.build_builtin`")
        selection = "The regularisation strength was chosen on dev macro-F1"
    else:
        origin = (
            "a small BERT trained from scratch (tokenizer trained on the corpus)" if base == SCRATCH else f"`{base}` fine-tuned"
        ) + " by `nuchter train`"
        selection = "Selected on dev macro-F1 (early stopping)"
    counts = metrics.get("data", {}).get("counts", {})
    data_rows = "\n".join(
        f"| {split} | " + " | ".join(str(counts[split][l]) for l in LABELS) + " |"
        for split in ("train", "dev", "test") if split in counts
    )
    test = metrics.get("test", {})
    return "\n".join(front) + f"""

# nuchter sentence classifier

Labels every sentence of Dutch health and wellness text as `supported`,
`hedged`, `overclaimed` or `promotional` (definitions: the labelling guide in
the nuchter repository, `data/GUIDELINES.md`). This model is {origin}.

## Use

```bash
nuchter score --model PATH/TO/THIS/FOLDER "Kurkuma geneest alle ontstekingen."
```

## Results

{selection}; the test split was not used for any choice.

{metrics_table(metrics)}

Confusion matrix on test:

{confusion_table(test["confusion_matrix"]) if test else "(none)"}

## Training data

Sentences per split (splits are assigned per document by a hash of its id):

| split | {' | '.join(LABELS)} |
|---|{'---|' * len(LABELS)}
{data_rows}

## Training settings

```json
{_json(config)}
```

{_seeds(metrics.get("seed"))}{f', {metrics["epochs_run"]} epochs' if "epochs_run" in metrics else ""}, {metrics.get("duration_s")} s.
{calibration_section(metrics.get("calibration"))}{extra}
## Limits

Trained on a few thousand sentences, most written for the project; lexical
cues alone do not carry these labels, and the model makes mistakes a careful
reader would not. Use it to point at sentences worth a second look, never as
a verdict on a text or its author.
"""


def _seeds(seed) -> str:
    if isinstance(seed, list):  # a soup (training/soup.py)
        return f"Seeds {', '.join(map(str, seed))}, weights averaged"
    return f"Seed {seed}"


def calibration_section(c: dict | None) -> str:
    if not c:
        return ""
    return (
        f"\n## Calibration\n\n`confidence` is the softmax probability at temperature {c['temperature']:.3f}, "
        f"fitted on dev (stored in `config.json`, `nuchter_inputs`). Expected calibration error ({c['bins']} bins): "
        f"dev {c['dev_ece_before']:.3f} before, {c['dev_ece_after']:.3f} after; "
        f"test {c['test_ece_before']:.3f} before, {c['test_ece_after']:.3f} after.\n"
    )


def _json(obj: dict) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False)
