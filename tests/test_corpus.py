"""The corpus loader: every input format, every check, stable splits."""

import json

import pytest

from nuchter.errors import NuchterError
from nuchter.training.corpus import CorpusError, load_corpus, load_for_training, split_of


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_project_jsonl(tmp_path):
    rows = [
        {"text": "Kurkuma geneest alles.", "label": "overclaimed", "doc_id": "d1", "source": "original", "topic": "turmeric", "register": "webshop"},
        {"text": "Bestel vandaag.", "label": "promotional", "doc_id": "d1", "source": "original", "topic": "turmeric", "register": "webshop"},
    ]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    corpus = load_corpus([path])
    assert not corpus.problems
    assert [(e.text, e.label, e.doc_id, e.topic) for e in corpus.examples] == [
        ("Kurkuma geneest alles.", "overclaimed", "d1", "turmeric"),
        ("Bestel vandaag.", "promotional", "d1", "turmeric"),
    ]
    assert corpus.examples[1].where == f"{path}:2"


def test_semicolon_csv_in_windows_1252_with_dutch_aliases(tmp_path):
    text = "Tekst;Label;doc_id\r\nDit beïnvloedt de slaap van patiënten;Onderbouwd;x1\r\n\"Zo; dat geneest écht alles\";OVERDREVEN;x1\r\n"
    path = write(tmp_path / "excel.csv", text, "cp1252")
    corpus = load_corpus([path])
    assert not corpus.problems
    assert [(e.text, e.label) for e in corpus.examples] == [
        ("Dit beïnvloedt de slaap van patiënten", "supported"),
        ("Zo; dat geneest écht alles", "overclaimed"),
    ]


def test_comma_csv_with_bom(tmp_path):
    path = write(tmp_path / "lo.csv", "\ufefftext,label\n\"Het bewijs is, kortom, beperkt.\",voorzichtig\n")
    assert [(e.text, e.label) for e in load_corpus([path]).examples] == [("Het bewijs is, kortom, beperkt.", "hedged")]


def test_label_studio_export(tmp_path):
    tasks = [
        {"id": 7, "data": {"text": "Boek nu je retraite."}, "annotations": [
            {"was_cancelled": True, "result": [{"type": "choices", "value": {"choices": ["supported"]}}]},
            {"result": [{"type": "choices", "value": {"choices": ["Promotional"]}}]},
        ]},
        {"id": 8, "data": {"text": "Zonder label."}, "annotations": []},
    ]
    path = write(tmp_path / "export.json", json.dumps(tasks))
    corpus = load_corpus([path])
    assert [(e.text, e.label, e.doc_id) for e in corpus.examples] == [("Boek nu je retraite.", "promotional", "7")]
    # an export of all tasks holds unlabelled ones: skipped with a warning, never trained on their predictions
    assert [str(p) for p in corpus.problems] == [
        f"{path}: task 2: warning: no annotation yet: skipped (a prediction alone is not a label)"
    ]


def test_doccano_jsonl(tmp_path):
    path = write(tmp_path / "doccano.jsonl", '{"id": 1, "text": "Kan helpen bij slaap.", "label": ["hedged"]}\n')
    assert [(e.text, e.label) for e in load_corpus([path]).examples] == [("Kan helpen bij slaap.", "hedged")]


def test_bad_rows_are_reported_with_file_and_line(tmp_path):
    path = write(
        tmp_path / "bad.jsonl",
        '{"text": "Goed.", "label": "supported", "doc_id": "a"}\n'
        '{"text": "   ", "label": "supported"}\n'
        '{"text": "Fout label.", "label": "overclaim"}\n'
        "{kapot\n"
        '{"text": "Geen label."}\n',
    )
    corpus = load_corpus([path])
    messages = [str(p) for p in corpus.problems]
    assert messages[0] == f"{path}:2: error: empty text"
    assert messages[1].startswith(f"{path}:3: error: unknown label 'overclaim' (did you mean 'overclaimed'?)")
    assert messages[2].startswith(f"{path}:4: error: not valid JSON")
    assert messages[3] == f"{path}:5: error: missing label"
    with pytest.raises(CorpusError, match="4 problem"):
        load_for_training([path])


def test_duplicates_are_dropped_and_conflicts_refused(tmp_path):
    first = write(tmp_path / "a.jsonl", '{"text": "Magnesium helpt soms.", "label": "hedged", "doc_id": "a"}\n')
    same = write(tmp_path / "b.csv", "text,label\nMagnesium  helpt soms.,hedged\n")
    corpus = load_corpus([first, same])
    assert len(corpus.examples) == 1 and not corpus.errors
    assert "duplicate of" in str(corpus.problems[0]) and "warning" in str(corpus.problems[0])
    clash = write(tmp_path / "c.csv", "text,label\nMagnesium helpt soms.,overclaimed\n")
    with pytest.raises(CorpusError, match="conflicting labels"):
        load_for_training([first, clash])


def test_folders_are_read_recursively_but_not_review_passes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "agreement").mkdir()
    write(tmp_path / "sub" / "a.jsonl", '{"text": "Een zin.", "label": "supported", "doc_id": "a"}\n')
    write(tmp_path / "agreement" / "pass.jsonl", '{"id": "x", "label": "hedged"}\n')
    write(tmp_path / "notes.txt", "niet lezen")
    corpus = load_corpus([tmp_path])
    assert [e.text for e in corpus.examples] == ["Een zin."] and not corpus.problems


def test_missing_paths_and_unsupported_types(tmp_path):
    with pytest.raises(NuchterError, match="not found"):
        load_corpus([tmp_path / "nope"])
    xlsx = write(tmp_path / "sheet.xlsx", "binary")
    assert "unsupported file type" in str(load_corpus([xlsx]).problems[0])


def test_splits_are_stable_and_per_document():
    assert split_of("oa-001") == split_of("oa-001")
    ids = [f"doc-{i}" for i in range(2000)]
    shares = {s: sum(split_of(i) == s for i in ids) / len(ids) for s in ("train", "dev", "test")}
    assert 0.75 < shares["train"] < 0.85 and 0.07 < shares["dev"] < 0.13 and 0.07 < shares["test"] < 0.13


def test_data_check_command(tmp_path):
    from typer.testing import CliRunner

    from nuchter.cli.main import app

    runner = CliRunner()
    good = write(tmp_path / "goed.csv", "text,label,doc_id\nEen zin.,supported,a\nNog een zin.,hedged,b\n")
    result = runner.invoke(app, ["data", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 files, 2 sentences, 2 documents" in result.stdout
    assert result.stdout.splitlines()[-1].split()[:5] == ["all", "1", "1", "0", "0"]
    bad = write(tmp_path / "fout.csv", "text,label\nEen zin.,promotinal\n")
    result = runner.invoke(app, ["data", "check", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: error: unknown label 'promotinal' (did you mean 'promotional'?)" in result.stderr
