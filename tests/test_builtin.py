"""The built-in model: shipped, small, safe to load, offline, active by default, chosen by the rule."""

import json
import re
import shlex

from typer.testing import CliRunner

from model import score_text, store
from model.cli import app
from model.labels import LABELS
from tests.conftest import ROOT

runner = CliRunner()


def test_shipped_small_and_pickle_free(builtin):
    files = [p for p in builtin.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 25 * 1024 * 1024
    assert "model.safetensors" in {p.name for p in files}
    assert not any(p.suffix in (".bin", ".pt", ".pkl", ".pickle", ".joblib") for p in files)
    config = json.loads((builtin / "config.json").read_text())
    assert sorted(config["id2label"].values()) == sorted(LABELS)


def test_choice_follows_the_rule_in_its_card(builtin):
    metrics = json.loads((builtin / "metrics.json").read_text())
    comparison = metrics["comparison"]
    transformer = comparison["(a) transformer from scratch"]["dev"]
    best_other = max(v["dev"] for k, v in comparison.items() if k.startswith("(b)"))
    expected_transformer = transformer >= best_other - 0.02
    assert metrics["choice"].startswith("(a)") == expected_transformer
    assert metrics["test"]["macro_f1"] == comparison[metrics["choice"]]["test"]
    card = (builtin / "README.md").read_text()
    assert "How this model was chosen" in card and metrics["choice"] in card


def test_active_by_default_and_scores_offline(builtin):
    assert store.active_name() == store.BUILTIN
    result = score_text("Kurkuma geneest alle ontstekingen, gegarandeerd. Bestel vandaag nog met korting!")
    assert [s.label for s in result.sentences] == ["overclaimed", "promotional"]
    listing = runner.invoke(app, ["models"])
    assert "* builtin" in listing.stdout


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
