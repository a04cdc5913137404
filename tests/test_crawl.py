"""Crawl inputs (JSONL, Parquet, WARC/WET) and the Parquet dataset a scan writes, on the local engine."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from nuchter.crawl import Fields, Record, records
from nuchter.results import SkippedFile

runner = CliRunner()

PAGES = [
    "Psilocybine geneest depressie, zonder bijwerkingen. Het bewijs bij mensen is nog beperkt. "
    "Boek nu je retraite met 20% korting!",
    "Kurkuma zou ontstekingen kunnen remmen, maar de studies zijn klein. Overleg met je huisarts.",
    "Onze detoxkuur zuivert je lever volledig in drie dagen. Bestel vandaag en krijg gratis verzending.",
    "In een kleine studie sliepen deelnemers iets beter na magnesium. Meer onderzoek is nodig.",
]


def page_html(i: int) -> str:
    return (f"<html><head><title>Pagina {i}</title></head><body><article><h1>Pagina {i}</h1>"
            f"<p>{PAGES[i % len(PAGES)]}</p><p>Dit is alinea {i} over voeding en gezondheid.</p>"
            "</article></body></html>")


def write_warc(path: Path, n: int, start: int = 0) -> None:
    """A gzipped WARC of n HTML responses, with a request, an image and a 404 between them that are no pages."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i in range(start, start + n):
            url = f"https://voorbeeld.test/p{i}"
            html = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(page_html(i).encode()),
                                                          http_headers=html))
            if i % 10 == 0:
                writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
                image = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
                writer.write_record(writer.create_warc_record(url + ".png", "response", payload=io.BytesIO(b"\x89PNG"),
                                                              http_headers=image))
                missing = StatusAndHeaders("404 Not Found", [("Content-Type", "text/html")], protocol="HTTP/1.1")
                writer.write_record(writer.create_warc_record(url + "/weg", "response",
                                                              payload=io.BytesIO(b"<p>Niet gevonden.</p>"), http_headers=missing))


def write_jsonl(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"url": f"https://forum.test/t{i}", "text": PAGES[(i + 1) % len(PAGES)] + f" Bericht {i}."}) + "\n")


def test_jsonl_records_take_text_then_html_and_report_what_they_cannot_use(tmp_path):
    path = tmp_path / "posts.jsonl.gz"
    rows = [
        {"url": "https://a.test/1", "text": "Tekst een."},
        {"url": "https://a.test/2", "html": "<p>Tekst twee.</p>"},
        {"text": "Zonder url."},
        {"url": "https://a.test/4"},
        {"url": "https://a.test/1", "text": "Dezelfde url."},
        [1, 2],
    ]
    body = "\n".join(json.dumps(r) for r in rows) + "\n{kapot\n"
    path.write_bytes(gzip.compress(body.encode()))
    found = list(records(path))
    assert found[0] == Record("https://a.test/1", text="Tekst een.")
    assert found[1] == Record("https://a.test/2", html="<p>Tekst twee.</p>")
    assert found[2] == Record(f"{path}#3", text="Zonder url.")
    assert isinstance(found[3], SkippedFile) and "no text" in found[3].reason
    assert isinstance(found[4], SkippedFile) and "same id" in found[4].reason
    assert [f.reason for f in found[5:]] == ["not a JSON object", "not a JSON object"]


def test_parquet_records_with_chosen_field_names(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pages.parquet"
    pq.write_table(pa.table({"adres": ["https://b.test/1", "https://b.test/2"], "inhoud": ["Een.", None],
                             "bron": [None, "<p>Twee.</p>"]}), path)
    found = list(records(path, Fields(id="adres", text="inhoud", html="bron")))
    assert found == [Record("https://b.test/1", text="Een."), Record("https://b.test/2", html="<p>Twee.</p>")]
    bad = list(records(path))  # the default names are not there
    assert isinstance(bad[0], SkippedFile) and "no 'text' or 'html' column" in bad[0].reason


def test_warc_gives_html_responses_only_and_wet_gives_text(tmp_path):
    from warcio.warcwriter import WARCWriter

    warc = tmp_path / "crawl.warc.gz"
    write_warc(warc, 3)
    found = list(records(warc))
    assert [r.id for r in found] == [f"https://voorbeeld.test/p{i}" for i in range(3)]
    assert all(isinstance(r, Record) and "Pagina" in r.html for r in found)

    wet = tmp_path / "crawl.wet"
    with open(wet, "wb") as handle:
        writer = WARCWriter(handle, gzip=False)
        writer.write_record(writer.create_warc_record("https://c.test/1", "conversion",
                                                      payload=io.BytesIO("Platte tekst van een pagina.".encode())))
    assert list(records(wet)) == [Record("https://c.test/1", text="Platte tekst van een pagina.")]


def test_warc_bodies_decode_by_their_declared_charset_else_as_scanned_files_do(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body = "<p>Kurkuma beïnvloedt je darmflora.</p>"
    path = tmp_path / "charsets.warc"
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=False)
        for i, (header, data) in enumerate([("text/html; charset=iso-8859-1", body.encode("latin-1")),
                                             ("text/html", body.encode("cp1252")),  # undeclared: UTF-8 fails, Windows-1252
                                             ("text/plain", b"\x00\x01\x02\x03binair\x00\x00\x05\x06")]):
            headers = StatusAndHeaders("200 OK", [("Content-Type", header)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"https://d.test/{i}", "response",
                                                          payload=io.BytesIO(data), http_headers=headers))
    found = list(records(path))
    assert found[0] == Record("https://d.test/0", html=body) and found[1] == Record("https://d.test/1", html=body)
    assert isinstance(found[2], SkippedFile) and "binary" in found[2].reason


def test_a_truncated_crawl_file_keeps_what_it_read_and_says_why(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(("\n".join(json.dumps({"url": f"u{i}", "text": f"Zin {i}."}) for i in range(200)) + "\n").encode())
    path.write_bytes(whole[: len(whole) // 2])
    found = list(records(path))
    assert isinstance(found[-1], SkippedFile) and "cannot read the rest" in found[-1].reason
    assert len(found) > 1 and all(isinstance(r, Record) for r in found[:-1])


def read_dataset(out: Path):
    from nuchter.scanfiles import read_parquet_dataset

    sentences, documents = read_parquet_dataset(out)
    return (sorted(sentences.to_pylist(), key=lambda r: (r["path"], r["index"])),
            sorted(documents.to_pylist(), key=lambda r: r["path"]))


def test_scan_writes_a_parquet_dataset_of_a_crawl_and_a_folder(tmp_path, tiny_linear):
    write_warc(tmp_path / "crawl.warc.gz", 12)
    write_jsonl(tmp_path / "posts.jsonl", 8)
    folder = tmp_path / "map"
    folder.mkdir()
    (folder / "blog.txt").write_text(PAGES[0], encoding="utf-8")
    (folder / "leeg.txt").write_text("   ", encoding="utf-8")
    out = tmp_path / "uit"
    result = runner.invoke(app, ["scan", str(tmp_path / "crawl.warc.gz"), str(tmp_path / "posts.jsonl"), str(folder),
                                 "--out", str(out), "--format", "parquet", "--model", str(tiny_linear), "--part-size", "5"])
    assert result.exit_code == 0, result.output
    sentences, documents = read_dataset(out)
    assert len(documents) == 12 + 8 + 2
    by_path = {d["path"]: d for d in documents}
    assert by_path[str(folder / "leeg.txt")]["status"].startswith("skipped: empty")
    assert by_path["https://voorbeeld.test/p3"]["status"] == "scored"
    assert sum(d["sentences"] or 0 for d in documents) == len(sentences)
    first = [s for s in sentences if s["path"] == "https://forum.test/t0"]
    assert [s["index"] for s in first] == list(range(len(first))) and first[0]["model"]
    assert {s["label"] for s in sentences} <= {"supported", "hedged", "overclaimed", "promotional"}
    assert len(list((out / "documents").glob("part-*.parquet"))) == 5  # 22 documents, 5 a part

    # the same pages scored one at a time give the same rows
    single = runner.invoke(app, ["score", "--model", str(tiny_linear), "--format", "json", PAGES[2] + " Bericht 1."])
    expected = [(s["label"], s["confidence"]) for s in json.loads(single.output)["sentences"]]
    assert [(s["label"], s["confidence"]) for s in sentences if s["path"] == "https://forum.test/t1"] == expected

    again = runner.invoke(app, ["scan", str(folder), "--out", str(out), "--format", "parquet", "--model", str(tiny_linear)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_parquet_needs_a_folder_and_keeps_summary_inside(tmp_path):
    result = runner.invoke(app, ["scan", str(tmp_path), "--format", "parquet"])
    assert result.exit_code == 2 and "--format parquet needs --out DIR" in result.output
    result = runner.invoke(app, ["scan", str(tmp_path), "--ray", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--ray writes a Parquet dataset" in result.output


def test_a_killed_parquet_scan_resumes_without_losing_or_repeating_a_document(tmp_path, tiny_linear):
    """Kill the scan (SIGKILL: no handler runs) once some parts are written, resume, and compare with
    an uninterrupted scan of the same crawl."""
    write_warc(tmp_path / "crawl.warc.gz", 600)
    base = [sys.executable, "-m", "nuchter", "scan", str(tmp_path / "crawl.warc.gz"), "--format", "parquet",
            "--model", str(tiny_linear), "--part-size", "2", "--workers", "1"]
    env = {**os.environ, "NUCHTER_HOME": str(tmp_path / "home")}
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    subprocess.run([*base, "--out", str(whole)], check=True, env=env, capture_output=True)

    process = subprocess.Popen([*base, "--out", str(stopped)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((stopped / "documents").glob("part-*.parquet"))) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    parts = len(list((stopped / "documents").glob("part-*.parquet")))
    assert 20 <= parts < 300, "the scan was not stopped part-way"
    (stopped / "sentences" / "part-99999.parquet").write_bytes(b"half a part without its documents file")

    resumed = subprocess.run([*base, "--out", str(stopped), "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert not (stopped / "sentences" / "part-99999.parquet").exists()
    sentences, documents = read_dataset(stopped)
    assert len({d["path"] for d in documents}) == len(documents) == 600
    assert (sentences, documents) == read_dataset(whole)
