"""Every nuchter command and option the README shows exists, so the README cannot drift from the CLI."""

import re
import shlex

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from tests.conftest import ROOT

runner = CliRunner()


def readme_commands() -> list[list[str]]:
    """The nuchter invocations in the README's bash blocks, as argument lists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            current: list[str] = []
            for token in shlex.split(line, comments=True) + ["&&"]:
                if token in ("&&", "|", ">", "<"):
                    if current[:1] == ["nuchter"]:
                        commands.append(current[1:])
                    current = [] if token != ">" else ["(redirect)"]
                else:
                    current.append(token)
    return commands


def subcommand_path(words: list[str]) -> list[str]:
    groups = {"data": {"check"}, "models": {"use", "remove"}}
    path = words[:1]
    if words[:1] and words[0] in groups and len(words) > 1 and words[1] in groups[words[0]]:
        path = words[:2]
    return path


@pytest.mark.parametrize("words", readme_commands(), ids=lambda w: " ".join(w)[:60])
def test_readme_command_and_options_exist(words):
    path = subcommand_path(words)
    help_text = runner.invoke(app, [*path, "--help"])
    assert help_text.exit_code == 0, f"`nuchter {' '.join(path)}` is not a command"
    for option in (w.split("=", 1)[0] for w in words if w.startswith("--")):
        assert option in help_text.stdout, f"`nuchter {' '.join(path)}` has no option {option}"


def test_readme_shows_every_command():
    shown = {tuple(subcommand_path(w)) for w in readme_commands()}
    for command in (("score",), ("scan",), ("serve",), ("train",), ("evaluate",), ("export",), ("data", "check"), ("models", "use"), ("models", "remove")):
        assert command in shown or command[0] in {c[0] for c in shown}, command


def test_readme_figures_that_drift_with_the_data_are_current():
    """Issue 23: the README said 590 sentences in 57 documents long after the corpus grew."""
    import json

    from nuchter.training.corpus import load_corpus

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (ROOT / "training" / "reference" / "corpus_test.jsonl").read_text(
        encoding="utf-8").splitlines()]
    shown = re.search(r"corpus's own test split \(([\d,]+) sentences in (\d+) documents", readme)
    assert shown and (int(shown[1].replace(",", "")), int(shown[2])) == (len(rows), len({r["doc_id"] for r in rows}))
    train = len(load_corpus([ROOT / "data"]).split("train"))
    epoch = re.search(r"an epoch over the corpus \(([\d,]+)\s+training sentences\)", readme)
    assert epoch and abs(int(epoch[1].replace(",", "")) - train) <= 100, (epoch and epoch[1], train)


def test_readme_api_example_is_what_the_builtin_model_answers(builtin):
    import json

    from nuchter import score_text

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r'"sentences": \[\{"index": 0, .*?"text": "(.*?)",\s*"label": "(\w+)", "confidence": ([\d.]+)', readme, re.S)
    assert example, "the README's API example is gone"
    text = "Kurkuma geneest alle ontstekingen. Bestel vandaag nog!"
    first = score_text(text, model="builtin").to_dict()["sentences"][0]
    assert (first["text"], first["label"], first["confidence"]) == (example[1], example[2], float(example[3]))
    assert json.dumps(first["confidence"]) == example[3]


def test_version_option():
    """Issue 23: `nuchter --version` answers with the installed version."""
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"nuchter {version('nuchter')}"
