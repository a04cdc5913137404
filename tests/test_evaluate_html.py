"""Pictures of how good a model is: `nuchter evaluate --html`, and the label-share chart of the scan
report, checked against the counts they were drawn from (the figures, the SVG, and a headless chromium)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from nuchter.labels import LABELS
from nuchter.reports import charts
from nuchter.reports.evaluation import CSP, render_evaluation_html
from nuchter.reports.palette import esc
from nuchter.training.corpus import Example
from nuchter.training.evaluation import Evaluation, figures
from tests.conftest import ROOT

runner = CliRunner()


def evaluation_of(rows) -> Evaluation:
    """rows: (gold, predicted, confidence, page, group)."""
    examples = [Example(text=f"Zin {i} <b>", label=g, doc_id=p, register=grp, where=f"x.jsonl:{i}")
                for i, (g, _, _, p, grp) in enumerate(rows)]
    predicted = [r[1] for r in rows]
    errors = [(e, p, {}) for e, p in zip(examples, predicted) if p != e.label]
    return Evaluation({}, errors, [r[0] for r in rows], predicted, [r[3] for r in rows], examples,
                      [r[2] for r in rows], [r[4] for r in rows])


ROWS = [
    ("supported", "supported", 0.95, "a", "news"), ("supported", "hedged", 0.55, "a", "news"),
    ("hedged", "hedged", 0.85, "b", "blog"), ("overclaimed", "overclaimed", 0.92, "b", "blog"),
    ("overclaimed", "supported", 0.45, "c", "shop"), ("promotional", "promotional", 0.99, "c", "shop"),
    ("promotional", "promotional", 0.75, "d", "shop"), ("supported", "supported", 0.65, "d", "shop"),
]


def test_reliability_bins_and_ece_by_hand():
    f = figures(evaluation_of(ROWS))
    bins = {(b["low"], b["high"]): b for b in f["reliability"]["bins"] if b["count"]}
    assert sum(b["count"] for b in bins.values()) == len(ROWS)
    assert bins[(0.9, 1.0)]["count"] == 3 and bins[(0.9, 1.0)]["accuracy"] == 1.0  # 0.95, 0.92, 0.99
    assert bins[(0.5, 0.6)]["accuracy"] == 0.0 and bins[(0.4, 0.5)]["accuracy"] == 0.0
    # |acc - conf| per bin, weighted by its share of the sentences
    expected = (abs(1 - 0.95) + abs(1 - 0.92) + abs(1 - 0.99) + 0.55 + 0.45 + abs(1 - 0.85) + abs(1 - 0.75)
                + abs(1 - 0.65)) / len(ROWS)
    assert f["reliability"]["ece"] == pytest.approx(expected, abs=1e-4)


def test_intervals_groups_and_errors():
    f = figures(evaluation_of(ROWS))
    for label in LABELS:
        for metric in ("precision", "recall", "f1"):
            low, high = f["label_intervals"][label][metric]
            assert 0 <= low <= high <= 1
    assert f["label_intervals"]["promotional"]["precision"] == [1.0, 1.0]  # never wrong, in any resample
    assert f["per_group"]["shop"] == {"accuracy": 0.75, "sentences": 4, "pages": 2}
    assert [(e["gold"], e["predicted"]) for e in f["errors"]] == [("supported", "hedged"), ("overclaimed", "supported")]
    assert f["error_count"] == 2


def test_charts_carry_their_numbers_and_escape_names():
    heat = charts.confusion_heatmap([[5, 1, 0, 0], [0, 3, 0, 0], [2, 0, 4, 0], [0, 0, 0, 6]])
    counts = [int(n) for n in re.findall(r'class="cell"[^>]*data-count="(\d+)"', heat)]
    assert len(counts) == 16 and sum(counts) == 21
    groups = charts.group_accuracy_bars({'<script>alert(1)</script>': {"accuracy": 0.5, "sentences": 2, "pages": 1}})
    assert "<script>" not in groups and "&lt;script&gt;" in groups


def test_page_is_self_contained_and_escapes_sentences():
    f = figures(evaluation_of(ROWS))
    metrics = {"model": "m", "serving": "x", "sentences": 8, "split": "test", "macro_f1": 0.7, "accuracy": 0.75,
               "per_label": {l: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2} for l in LABELS},
               "confusion_matrix": {"rows_gold_columns_predicted": [[2, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 2]]}}
    page = render_evaluation_html(metrics, f)
    assert "Zin 1 <b>" not in page
    assert "Zin 1 &lt;b&gt;" in page and not re.search(r"<(link|img|iframe)\b|src=\"http", page)
    assert esc(CSP) in page and "default-src 'none'" in CSP
    assert 'id="groups"' in page


FAST = str(ROOT / "model" / "builtin_fast")
CLI_ARGS = ["evaluate", "--data", str(ROOT / "data"), "--split", "test", "--model", FAST]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """`nuchter evaluate --data data/ --split test --html r.html` (with builtin-fast: seconds, not minutes)."""
    out = tmp_path_factory.mktemp("evaluate")
    page = out / "r.html"
    result = runner.invoke(app, [*CLI_ARGS, "--html", str(page), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), page


def test_cli_writes_the_page(evaluated):
    metrics, page = evaluated
    html = page.read_text(encoding="utf-8")
    for section in ("confusion", "per-label", "reliability", "groups", "errors"):
        assert f'id="{section}"' in html
    counts = [int(n) for n in re.findall(r'class="cell"[^>]*data-count="(\d+)"', html)]
    assert sum(counts) == metrics["sentences"]
    wrong = metrics["sentences"] - sum(row[i] for i, row in enumerate(metrics["confusion_matrix"]["rows_gold_columns_predicted"]))
    assert html.count('<tr data-gold=') == wrong


def test_cli_html_error_is_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    result = runner.invoke(app, [*CLI_ARGS, "--html", str(blocked / "r.html")])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.output


# --- in a real browser ------------------------------------------------------------------------------

needs_browser = pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                                   reason="chromium and chromium-driver are not installed (CI installs them)")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    from tests.test_html import CHROMIUM_FLAGS

    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('profile')}",
                 "--window-size=1300,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    yield browser
    browser.quit()


@needs_browser
def test_browser_renders_the_four_charts_with_the_right_counts(evaluated, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    metrics, page = evaluated
    driver.get(page.as_uri())
    cells = driver.find_elements(By.CSS_SELECTOR, "#confusion svg g.cell")
    assert len(cells) == 16 and all(c.is_displayed() for c in cells)
    matrix = metrics["confusion_matrix"]["rows_gold_columns_predicted"]
    shown = {(c.get_attribute("data-gold"), c.get_attribute("data-predicted")): int(c.get_attribute("data-count")) for c in cells}
    assert shown == {(g, p): matrix[i][j] for i, g in enumerate(LABELS) for j, p in enumerate(LABELS)}

    bars = driver.find_elements(By.CSS_SELECTOR, "#per-label svg g.bar")
    assert len(bars) == 12
    for bar in bars:
        value = float(bar.get_attribute("data-value"))
        assert value == pytest.approx(metrics["per_label"][bar.get_attribute("data-label")][bar.get_attribute("data-metric")], abs=1e-4)
        assert float(bar.get_attribute("data-low")) <= value + 1e-9 <= float(bar.get_attribute("data-high")) + 2e-9
    rect = bars[0].find_element(By.TAG_NAME, "rect")
    assert rect.size["height"] > 10  # drawn, not just present

    bins = driver.find_elements(By.CSS_SELECTOR, "#reliability svg g.bin")
    assert sum(int(b.get_attribute("data-count")) for b in bins) == metrics["sentences"]
    assert re.search(r"ECE 0\.\d{3}", driver.find_element(By.CSS_SELECTOR, "#reliability svg").text)

    groups = driver.find_elements(By.CSS_SELECTOR, "#groups svg g.group-bar")
    assert len(groups) >= 2 and sum(int(g.get_attribute("data-sentences")) for g in groups) <= metrics["sentences"]

    # (gold, predicted) of the rows the browser shows, read in one script call rather than one per row
    shown_rows = ("return Array.from(document.querySelectorAll('#errors-table tbody tr'))"
                  ".filter(r => r.offsetParent !== null)"
                  ".map(r => [r.getAttribute('data-gold'), r.getAttribute('data-predicted')]);")
    total = len(driver.execute_script(shown_rows))
    Select(driver.find_element(By.ID, "filter-gold")).select_by_value("overclaimed")
    visible = driver.execute_script(shown_rows)
    assert len(visible) == sum(matrix[2]) - matrix[2][2]
    assert all(gold == "overclaimed" for gold, _ in visible)
    assert driver.find_element(By.ID, "errors-shown").text == f"showing {len(visible)} of {total}"
    shown_cell = next(c for c in cells if c.get_attribute("data-gold") == "promotional" and c.get_attribute("data-predicted") == "supported")
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", shown_cell)
    visible = driver.execute_script(shown_rows)
    assert visible == [["promotional", "supported"]] * matrix[3][0]


@needs_browser
def test_browser_scan_report_shows_label_shares(tmp_path, driver):
    from selenium.webdriver.common.by import By

    pages = tmp_path / "paginas"
    pages.mkdir()
    (pages / "winkel.txt").write_text("Kurkuma geneest alles. Bestel nu met korting! Gratis verzending vandaag.")
    (pages / "krant.txt").write_text("Een studie vond een klein effect. Meer onderzoek is nodig. Dat zegt de arts.")
    report = tmp_path / "r.html"
    result = runner.invoke(app, ["scan", str(pages), "--model", FAST, "--html", str(report),
                                 "--summary", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    driver.get(report.as_uri())
    bars = driver.find_elements(By.CSS_SELECTOR, "#shares svg g.doc-shares")
    assert len(bars) == 2
    import csv

    summary = {r["path"]: r for r in csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8"))}
    for bar in bars:
        row = summary[bar.get_attribute("data-path")]
        segments = bar.find_elements(By.CSS_SELECTOR, "rect.share")
        assert {s.get_attribute("data-label"): int(s.get_attribute("data-count")) for s in segments} == {
            label: int(row[label]) for label in LABELS}
        assert int(bar.get_attribute("data-sentences")) == int(row["sentences"])
    flagged = [float(summary[b.get_attribute("data-path")]["flagged_share"]) for b in bars]
    assert flagged == sorted(flagged, reverse=True)  # most flagged first
