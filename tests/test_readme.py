"""Every nuchter command and option the README shows exists, so the README cannot drift from the CLI."""

import re
import shlex

import pytest
from typer.testing import CliRunner

from nuchter.cli import app
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
