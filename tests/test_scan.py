"""`nuchter scan` on a mixed folder: every file type, every bad file, every report, resume."""

import codecs
import csv
import json
import os

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from nuchter.labels import LABELS
from nuchter.scan import ScanConfig, plan

runner = CliRunner()

PAGE = """<html><head><meta charset="utf-8"><title>Winkel</title></head><body>
<nav><a href="/">Home</a> <a href="/shop">Webshop</a> <a href="/contact">Contact</a></nav>
<div class="cookie-banner">Wij gebruiken cookies om je ervaring te verbeteren. Accepteer alle cookies.</div>
<article><h1>Kurkuma geneest alles</h1>
<p>Kurkuma is een wortel uit Azië die al eeuwen in de keuken wordt gebruikt.</p>
<p>Volgens onze klanten verdwijnt elke ontsteking binnen een week, zonder bijwerkingen.</p>
<p>Bestel vandaag nog en ontvang tien procent korting op je eerste bestelling.</p>
<img src="https://example.invalid/beeld.png"><script>fetch("https://example.invalid/track")</script></article>
<footer>© 2025 Gouden Wortel · Privacy · Algemene voorwaarden</footer></body></html>"""


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "pagina's"
    (root / "sub" / "dieper").mkdir(parents=True)
    (root / "a.txt").write_text("Magnesium geneest alle krampen. Het bewijs is beperkt.\n", encoding="utf-8")
    (root / "b.md").write_text("# Titel\n\nKurkuma helpt mogelijk bij pijn. Bestel nu met korting!\n", encoding="utf-8")
    (root / "c.txt").write_bytes("Dit beïnvloedt de slaap van patiënten. Dat is gemeten.".encode("cp1252"))
    (root / "leeg.txt").write_bytes(b"")
    (root / "sub" / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + "Vitamine D voorkomt griep. Vraag je huisarts.".encode("utf-16-le"))
    (root / "sub" / "data.txt").write_bytes(bytes(range(256)) * 8)
    (root / "sub" / "plaatje.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (root / "sub" / "dieper" / "pagina.html").write_text(PAGE, encoding="utf-8")
    (root / "groot.txt").write_text("Een zin over slaap. " * 80_000, encoding="utf-8")
    outside = tmp_path / "geheim.txt"
    outside.write_text("Dit staat buiten de map.", encoding="utf-8")
    os.symlink(outside, root / "naar-buiten.txt")
    os.symlink(root / "bestaat-niet.txt", root / "kapot.txt")
    return root


def read_summary(path):
    return {row["path"].rsplit("/", 1)[-1]: row for row in csv.DictReader(open(path, encoding="utf-8"))}


def test_mixed_folder_writes_every_report(folder, tiny_model, tmp_path):
    out, summary, page = tmp_path / "r" / "zinnen.jsonl", tmp_path / "r" / "docs.csv", tmp_path / "r" / "rapport.html"
    result = runner.invoke(app, ["scan", str(folder), "--model", str(tiny_model), "--out", str(out),
                                 "--summary", str(summary), "--html", str(page), "--max-size", "1"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_doc = {}
    for row in rows:
        assert set(row) == {"path", "index", "start", "end", "text", "label", "confidence", "scores"}
        assert row["label"] in LABELS
        by_doc.setdefault(row["path"].rsplit("/", 1)[-1], []).append(row["text"])
    assert by_doc["c.txt"] == ["Dit beïnvloedt de slaap van patiënten.", "Dat is gemeten."]
    assert by_doc["utf16.txt"] == ["Vitamine D voorkomt griep.", "Vraag je huisarts."]
    assert by_doc["pagina.html"] == [
        "Kurkuma is een wortel uit Azië die al eeuwen in de keuken wordt gebruikt.",
        "Volgens onze klanten verdwijnt elke ontsteking binnen een week, zonder bijwerkingen.",
        "Bestel vandaag nog en ontvang tien procent korting op je eerste bestelling.",
    ]
    assert not any("cookie" in t.lower() or "Privacy" in t for texts in by_doc.values() for t in texts)
    docs = read_summary(summary)
    for name in ("a.txt", "b.md", "c.txt", "utf16.txt", "pagina.html"):
        assert docs[name]["status"] == "scored"
        assert int(docs[name]["sentences"]) == len(by_doc[name])
    for name, reason in (("leeg.txt", "empty"), ("data.txt", "binary"), ("plaatje.png", "not a document type"),
                         ("groot.txt", "limit"), ("naar-buiten.txt", "outside"), ("kapot.txt", "broken")):
        assert docs[name]["status"].startswith("skipped") and reason in docs[name]["status"], (name, docs[name])
        assert name in result.stderr
    assert "Dit staat buiten de map" not in out.read_text(encoding="utf-8")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 6
    html = page.read_text(encoding="utf-8")
    assert html.count("data-index=") == len(rows) and "kapot.txt" in html


def test_csv_output_is_spreadsheet_safe(tmp_path, tiny_model):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "=formule.txt").write_text("=SUM(A1) is geen medicijn. -5 kilo in een week is gezond.", encoding="utf-8")
    out = tmp_path / "zinnen.csv"
    result = runner.invoke(app, ["scan", str(root), "--model", str(tiny_model), "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert rows[0]["text"].startswith("'=SUM") and rows[1]["text"].startswith("'-5 kilo")
    assert rows[0]["path"].endswith("=formule.txt") and not rows[0]["path"].startswith("=")


def test_include_exclude(folder):
    only_html, _ = plan([folder], ScanConfig(include=("*.html",)))
    assert [p.name for p in only_html] == ["pagina.html"]
    no_sub, _ = plan([folder], ScanConfig(exclude=("sub/*",)))
    assert {p.name for p in no_sub} == {"a.txt", "b.md", "c.txt", "leeg.txt", "groot.txt"}


def test_resume_skips_finished_documents(folder, tiny_model, tmp_path):
    out = tmp_path / "zinnen.jsonl"
    first = runner.invoke(app, ["scan", str(folder / "a.txt"), str(folder / "b.md"), "--model", str(tiny_model), "--out", str(out)])
    assert first.exit_code == 0, first.output
    # an interrupted write leaves half a line behind
    with open(out, "a", encoding="utf-8") as handle:
        handle.write('{"path": "' + str(folder / "c.txt") + '", "index": 0, "te')
    again = runner.invoke(app, ["scan", str(folder / "a.txt"), str(folder / "b.md"), str(folder / "c.txt"),
                                "--model", str(tiny_model), "--out", str(out)])
    assert again.exit_code == 1 and "--resume" in again.stderr
    resumed = runner.invoke(app, ["scan", str(folder / "a.txt"), str(folder / "b.md"), str(folder / "c.txt"),
                                  "--model", str(tiny_model), "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    paths = [json.loads(line)["path"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["a.txt", "a.txt", "b.md", "b.md", "c.txt", "c.txt"]
    assert "2 documents already done" in resumed.stderr  # b.md was written whole: not scored again


def test_a_resumed_scan_writes_what_an_uninterrupted_one_does(folder, tiny_model, tmp_path):
    """Issue 23: no duplicate summary rows, the last finished document not scored again."""
    args = ["scan", str(folder), "--model", str(tiny_model), "--max-size", "1"]
    whole_out, whole_summary = tmp_path / "heel.jsonl", tmp_path / "heel.csv"
    whole = runner.invoke(app, [*args, "--out", str(whole_out), "--summary", str(whole_summary)])
    assert whole.exit_code == 0, whole.output
    lines = whole_out.read_text(encoding="utf-8").splitlines(keepends=True)
    paths = [json.loads(line)["path"] for line in lines]
    second = next(i for i, p in enumerate(paths) if p != paths[0])
    # stopped while writing the second document: its first sentence is there, the rest is not
    cut_out, cut_summary = tmp_path / "deels.jsonl", tmp_path / "deels.csv"
    cut_out.write_text("".join(lines[: second + 1]), encoding="utf-8")
    summary_lines = whole_summary.read_text(encoding="utf-8").splitlines(keepends=True)
    cut_summary.write_text("".join(summary_lines[:-3]), encoding="utf-8")
    resumed = runner.invoke(app, [*args, "--out", str(cut_out), "--summary", str(cut_summary), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "1 documents already done" in resumed.stderr
    assert cut_out.read_text(encoding="utf-8") == whole_out.read_text(encoding="utf-8")
    assert cut_summary.read_text(encoding="utf-8") == whole_summary.read_text(encoding="utf-8")
    # resuming a finished scan scores nothing and changes nothing
    again = runner.invoke(app, [*args, "--out", str(cut_out), "--summary", str(cut_summary), "--resume"])
    assert again.exit_code == 0 and f"{len(set(paths))} documents already done" in again.stderr
    assert "scored 0 sentences in 0 documents" in again.stderr
    assert cut_out.read_text(encoding="utf-8") == whole_out.read_text(encoding="utf-8")
    assert cut_summary.read_text(encoding="utf-8") == whole_summary.read_text(encoding="utf-8")


def test_workers_give_the_same_results(tmp_path, tiny_linear):
    from nuchter.classify import load_classifier
    from nuchter.scan import scan

    root = tmp_path / "veel"
    root.mkdir()
    for i in range(40):
        (root / f"doc{i:02}.txt").write_text(
            f"Document {i} gaat over magnesium. Het geneest alles! Bestel nu {i} potjes. Het bewijs is beperkt.",
            encoding="utf-8")
    classifier = load_classifier(str(tiny_linear))
    documents, _ = plan([root], ScanConfig())
    one = list(scan(documents, classifier, ScanConfig(workers=1, documents_per_job=5)))
    two = list(scan(documents, classifier, ScanConfig(workers=2, documents_per_job=5)))
    assert [d.path for d in one] == [d.path for d in two] == [str(p) for p in documents]
    assert [d.result.sentences for d in one] == [d.result.sentences for d in two]


def test_missing_folder_and_model(tmp_path, tiny_model):
    result = runner.invoke(app, ["scan", str(tmp_path / "nope"), "--model", str(tiny_model)])
    assert result.exit_code == 1 and "not found" in result.stderr
    result = runner.invoke(app, ["scan", str(tmp_path), "--model", str(tmp_path / "geen-model")])
    assert result.exit_code == 1 and "model directory not found" in result.stderr
