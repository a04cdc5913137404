"""Average the weights of one recipe trained with several seeds (a "model soup", Wortsman et al. 2022).

On the seed pages the vectors recipe scored 0.676, 0.555 and 0.620 with training seeds 42, 7 and 3
alone; the average of the three scored 0.667 with the highest accuracy of all, and scoring costs
what one model costs. The averaged model is evaluated and calibrated again, like a trained one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from nuchter.errors import NuchterError
from nuchter.inputs import HEADS_FILE, InputSpec
from nuchter.labels import LABELS
from nuchter.backends.modeldir import check_model_dir
from nuchter.store import replace_folder
from nuchter.training.corpus import contexts_of, load_for_training

WEIGHT_FILES = ("model.safetensors", HEADS_FILE)


def average(states: list[dict]) -> dict:
    """The mean of each floating-point tensor; other tensors (position ids) must be equal and are kept."""
    import torch

    first = states[0]
    for i, state in enumerate(states[1:], start=2):
        if set(state) != set(first):
            odd = sorted(set(state) ^ set(first))[:3]
            raise NuchterError(f"model {i} has other weights than model 1 ({', '.join(odd)}): not the same recipe")
        if bad := [k for k in first if state[k].shape != first[k].shape][:3]:
            raise NuchterError(f"model {i} has other shapes than model 1 ({', '.join(bad)}): not the same recipe")
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            averaged[key] = (sum(s[key].double() for s in states) / len(states)).to(tensor.dtype)
        elif all(torch.equal(s[key], tensor) for s in states):
            averaged[key] = tensor
        else:
            raise NuchterError(f"the models differ in {key}, which cannot be averaged")
    return averaged


def soup(folders: list[Path], output: Path, data: list[Path], log=print) -> dict:
    """Write the average of ``folders`` to ``output`` with its temperature refitted on dev and its metrics;
    ``output`` is replaced only once the average is complete."""
    if len(folders) < 2:
        raise NuchterError("a soup needs at least two models")
    forms = set()
    for folder in folders:
        check_model_dir(folder)
        form = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("nuchter_inputs") or {}
        forms.add(json.dumps({k: v for k, v in form.items() if k != "temperature"}, sort_keys=True))
    if len(forms) > 1:
        raise NuchterError("the models read their input differently (prefix or page context): not the same recipe")
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folders[0], staging)
    try:
        metrics = _fill(folders, staging, data, log)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_folder(staging, output)
    return metrics


def _fill(folders: list[Path], staging: Path, data: list[Path], log) -> dict:
    """Average the weights into ``staging`` (a copy of the first model), calibrate, evaluate, write the card."""
    from safetensors.torch import load_file, save_file

    from nuchter.classify import load_classifier
    from nuchter.training import card
    from nuchter.training.calibration import calibration_report
    from nuchter.training.metrics import compute

    for name in WEIGHT_FILES:
        present = [(f / name).is_file() for f in folders]
        if not any(present):
            continue
        if not all(present):
            raise NuchterError(f"{name} is in some of the models but not all: not the same recipe")
        save_file(average([load_file(str(f / name)) for f in folders]), str(staging / name), metadata={"format": "pt"})

    config_path = staging / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    inputs = InputSpec.from_config(config)
    config["nuchter_inputs"] = replace(inputs, temperature=1.0).to_config()
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    corpus = load_for_training(data)
    dev, test = corpus.split("dev"), corpus.split("test")

    classifier = load_classifier(str(staging), backend="torch")

    def logits(examples):  # log-probabilities at temperature 1 differ from logits by a constant per row
        probabilities = classifier.predict([e.text for e in examples], contexts=contexts_of(examples))
        return np.log(np.array([[p[label] for label in LABELS] for p in probabilities]).clip(1e-12))

    dev_logits, test_logits = logits(dev), logits(test)
    dev_labels, test_labels = ([LABELS.index(e.label) for e in examples] for examples in (dev, test))
    calibration = calibration_report(dev_logits, np.array(dev_labels), test_logits, np.array(test_labels))
    config["nuchter_inputs"] = replace(inputs, temperature=calibration["temperature"]).to_config()
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log(f"temperature {calibration['temperature']:.3f}: dev ECE {calibration['dev_ece_before']:.3f} → "
        f"{calibration['dev_ece_after']:.3f}")

    parts = [json.loads((f / "metrics.json").read_text(encoding="utf-8")) if (f / "metrics.json").is_file() else {}
             for f in folders]
    metrics = {
        **{k: v for k, v in parts[0].items() if k in ("base_model", "data", "epochs_run")},
        "seed": [p.get("seed") for p in parts],
        "duration_s": round(sum(p.get("duration_s", 0) for p in parts), 1),
        "minutes": round(sum(p.get("minutes", p.get("duration_s", 0) / 60) for p in parts), 1),
        "soup_of": [{"folder": str(f), "seed": p.get("seed"),
                     "dev_macro_f1": p.get("dev", {}).get("macro_f1")} for f, p in zip(folders, parts)],
        "inputs": config["nuchter_inputs"],
        "calibration": calibration,
        "dev": compute(list(dev_logits.argmax(1)), dev_labels),
        "test": compute(list(test_logits.argmax(1)), test_labels),
    }
    log(f"soup of {len(folders)}: dev macro-F1 {metrics['dev']['macro_f1']:.3f}, test {metrics['test']['macro_f1']:.3f}")
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    training_config = json.loads((staging / "training_config.json").read_text(encoding="utf-8"))
    (staging / "README.md").write_text(card.render(metrics, training_config), encoding="utf-8")
    return metrics
