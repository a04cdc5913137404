"""The built-in models: shipped, small, safe to load, offline, active by default, shipped by the rule."""

import json
import re
import shlex

from typer.testing import CliRunner

from nuchter import score_text, store
from nuchter.cli.main import app
from nuchter.labels import LABELS
from tests.conftest import ROOT

runner = CliRunner()
PICKLES = (".bin", ".pt", ".pkl", ".pickle", ".joblib")


def test_shipped_small_onnx_only_and_pickle_free(builtin):
    files = [p for p in builtin.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 60 * 1024 * 1024
    names = {p.relative_to(builtin).as_posix() for p in files}
    assert {"config.json", "onnx/model.int8.onnx", "onnx/tokenizer.json", "metrics.json", "README.md"} <= names
    assert not any(p.suffix in PICKLES for p in files)
    config = json.loads((builtin / "config.json").read_text())
    assert sorted(config["id2label"].values()) == sorted(LABELS)
    assert config["nuchter_inputs"]["temperature"] > 0
    assert config["vocab_size"] < 100_000  # trimmed from 250,037


def test_shipped_because_it_beats_the_linear_model_on_real_pages(builtin):
    metrics = json.loads((builtin / "metrics.json").read_text())
    fast = json.loads((store.BUILTIN_FAST_DIR / "metrics.json").read_text())
    assert metrics["seed_texts_held_out"]["macro_f1"] > fast["seed_texts_held_out"]["macro_f1"]
    assert metrics["trimming"]["label_changes_corpus"] <= 0.005
    card = (builtin / "README.md").read_text()
    assert "Real pages" in card and "Calibration" in card and "Recipes tried" in card


def test_scoring_needs_neither_torch_nor_transformers(builtin, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from nuchter import score_text; "
        "r = score_text('Kurkuma geneest alle ontstekingen. Bestel vandaag nog!'); "
        "assert len(r.sentences) == 2; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["False", "False"]


def test_active_by_default_and_scores_offline(builtin):
    assert store.active_name() == store.BUILTIN
    result = score_text("Kurkuma geneest alle ontstekingen, gegarandeerd. Bestel vandaag nog met korting!")
    assert [s.label for s in result.sentences] == ["overclaimed", "promotional"]
    listing = runner.invoke(app, ["models"])
    assert "* builtin" in listing.stdout and "builtin-fast" in listing.stdout


def test_fast_builtin_is_selectable_by_name(builtin):
    fast = runner.invoke(app, ["score", "--model", "builtin-fast", "--format", "json", "Bestel vandaag nog!"])
    assert fast.exit_code == 0, fast.output
    assert json.loads(fast.stdout)["model"].endswith("builtin_fast")
    assert runner.invoke(app, ["models", "use", "builtin-fast"]).exit_code == 0
    assert store.active_name() == store.BUILTIN_FAST
    assert "* builtin-fast" in runner.invoke(app, ["models"]).stdout
    assert runner.invoke(app, ["models", "use", "builtin"]).exit_code == 0


def test_readme_quick_start_scores_with_the_builtin(builtin):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    command = first_block.split("&&", 1)[1].strip()
    args = shlex.split(command)
    assert args[:2] == ["nuchter", "score"]
    result = runner.invoke(app, [*args[1:], "--format", "json"])
    assert result.exit_code == 0, result.output
    labels = [s["label"] for s in json.loads(result.stdout)["sentences"]]
    assert labels == ["overclaimed", "hedged", "promotional"]


def test_card_lists_every_recorded_trial(builtin):
    """A trial recorded in recipe_trials.json reaches the card (python -m nuchter.training.build_builtin --card)."""
    from nuchter.training.build_builtin import TRIALS

    card = (builtin / "README.md").read_text(encoding="utf-8")
    missing = [t["trial"] for t in json.loads(TRIALS.read_text(encoding="utf-8")) if t["trial"] not in card]
    assert not missing, f"not in the card: {missing}"
