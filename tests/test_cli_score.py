"""`nuchter score` through Typer's CliRunner: every input source and format, and bad input."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from nuchter.labels import LABELS

runner = CliRunner()
FIELDS = {"index", "start", "end", "text", "label", "confidence", "scores"}


def score(*args, input=None):
    return runner.invoke(app, ["score", *args], input=input)


def check_sentence(obj, source=None):
    assert set(obj) == FIELDS
    assert obj["label"] in LABELS
    assert set(obj["scores"]) == set(LABELS)
    assert abs(sum(obj["scores"].values()) - 1) < 1e-3
    assert obj["confidence"] == max(obj["scores"].values())
    if source is not None:
        assert source[obj["start"] : obj["end"]] == obj["text"]


def test_text_argument_json(tiny_model, seed_paragraph):
    result = score(seed_paragraph, "--model", str(tiny_model), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"model", "sentences", "skipped", "summary"}
    assert len(data["sentences"]) == 5
    for sentence in data["sentences"]:
        check_sentence(sentence, seed_paragraph)
    summary = data["summary"]
    assert summary["sentences"] == 5 and sum(summary["counts"].values()) == 5
    flagged = summary["counts"]["overclaimed"] + summary["counts"]["promotional"]
    assert summary["flagged"] == flagged and summary["flagged_share"] == round(flagged / 5, 4)


def test_dutch_letters_are_not_escaped(tiny_model):
    result = score("Patiënten zijn enthousiast over café-cacao.", "--model", str(tiny_model), "--format", "json")
    assert "Patiënten" in result.stdout and "\\u" not in result.stdout


def test_stdin_dash_and_no_argument(tiny_model, seed_paragraph):
    for args in (["-"], []):
        result = score(*args, "--model", str(tiny_model), "--format", "jsonl", input=seed_paragraph)
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["index"] for r in rows] == list(range(5))
        for row in rows:
            check_sentence(row, seed_paragraph)


def test_file_input_cp1252(tiny_model, tmp_path):
    path = tmp_path / "tekst.txt"
    text = "Dit beïnvloedt de slaap van patiënten. Bestel nu!"
    path.write_bytes(text.encode("cp1252"))
    result = score("--file", str(path), "--model", str(tiny_model), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Dit beïnvloedt de slaap van patiënten.", "Bestel nu!"]


def test_lines_mode_keeps_each_line(tiny_model):
    text = "Dr. Jansen zegt dit. En dat.\nKurkuma geneest alles\n\nBestel vandaag"
    result = score("--lines", "--model", str(tiny_model), "--format", "jsonl", input=text)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Dr. Jansen zegt dit. En dat.", "Kurkuma geneest alles", "Bestel vandaag"]


def test_csv_output(tiny_model, seed_paragraph):
    result = score(seed_paragraph, "--model", str(tiny_model), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 5
    assert list(rows[0]) == ["index", "start", "end", "text", "label", "confidence", *(f"score_{l}" for l in LABELS)]
    assert all(r["label"] in LABELS for r in rows)


def test_table_output(tiny_model, seed_paragraph):
    result = score(seed_paragraph, "--model", str(tiny_model), "--format", "table")
    assert result.exit_code == 0, result.output
    assert "5 sentences" in result.stdout and "flagged" in result.stdout
    assert any(label in result.stdout for label in LABELS)


def test_default_format_off_a_terminal_is_jsonl(tiny_model):
    result = score("Magnesium helpt soms bij kramp.", "--model", str(tiny_model))
    assert json.loads(result.stdout.strip())["text"] == "Magnesium helpt soms bij kramp."


def test_skipped_lines_are_reported_in_json(tiny_model):
    text = "Meldingen\nAlles wissen\nMagnesium helpt soms bij kramp.\nhttps://winkel.nl/magnesium\n"
    data = json.loads(score(text, "--model", str(tiny_model), "--format", "json").stdout)
    assert [s["text"] for s in data["sentences"]] == ["Magnesium helpt soms bij kramp."]
    assert [(s["text"], s["reason"]) for s in data["skipped"]] == [
        ("Meldingen", "furniture"),
        ("Alles wissen", "furniture"),
        ("https://winkel.nl/magnesium", "url"),
    ]
    for s in data["skipped"]:
        assert text[s["start"] : s["end"]] == s["text"]


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        (["   \n  "], None, 1, "empty"),
        (["Meldingen\nAlles wissen\n"], None, 1, "no scorable sentence"),
        (["--format", "xml", "Tekst."], None, 2, "xml"),
        (["tekst", "--file", "x.txt"], None, 2, "not both"),
    ],
)
def test_bad_input(tiny_model, args, stdin, code, message):
    result = score(*args, "--model", str(tiny_model), input=stdin)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_binary_and_missing_files(tiny_model, tmp_path):
    binary = tmp_path / "plaatje.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = score("--file", str(binary), "--model", str(tiny_model))
    assert result.exit_code == 1 and "binary" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = score("--file", str(tmp_path / "nope.txt"), "--model", str(tiny_model))
    assert result.exit_code == 1 and "file not found" in result.stderr


def test_missing_model_says_what_to_run():
    result = score("Magnesium helpt soms.")
    assert result.exit_code == 1
    assert "--model" in result.stderr and "nuchter train" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_broken_model_directories(tmp_path):
    empty = tmp_path / "leeg"
    empty.mkdir()
    result = score("Magnesium helpt soms.", "--model", str(empty))
    assert result.exit_code == 1 and "config.json is missing" in result.stderr
    result = score("Magnesium helpt soms.", "--model", str(tmp_path / "bestaat-niet"))
    assert result.exit_code == 1 and "not found" in result.stderr


def test_help_has_examples():
    result = runner.invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    assert "nuchter score --file" in result.stdout


def test_html_output_is_one_self_contained_page(tiny_model, seed_paragraph):
    result = score(seed_paragraph, "--model", str(tiny_model), "--format", "html")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert page.count("data-index=") == 5
    assert "https://" not in page and "<link" not in page
