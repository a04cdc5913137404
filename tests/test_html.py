"""The HTML report: every sentence once, escaped, offline, sorted; and a real browser run."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser

import pytest

from nuchter.reports.html import PALETTE, render_html, render_score_html
from nuchter.labels import LABELS
from nuchter.results import DocumentResult, ScoreResult, SentenceScore, Skipped, SkippedFile

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'


# --- building results by hand -------------------------------------------------------------


def document(path: str, pieces, model: str = "tiny") -> DocumentResult:
    """A document from pieces: (text, label, confidence) is a sentence, (text, "skip:REASON") a
    skipped span, a plain string is text between them; offsets are computed, as the pipeline would."""
    text, sentences, skipped = "", [], []
    for piece in pieces:
        if isinstance(piece, str):
            text += piece
            continue
        if len(piece) == 2:
            span, reason = piece
            skipped.append(Skipped(len(text), len(text) + len(span), span, reason.removeprefix("skip:")))
        else:
            span, label, confidence = piece
            scores = {l: (confidence if l == label else (1 - confidence) / 3) for l in LABELS}
            sentences.append(
                SentenceScore(len(sentences), len(text), len(text) + len(span), span, label, confidence, scores)
            )
        text += span
    return DocumentResult(path, text, ScoreResult(model, tuple(sentences), tuple(skipped)))


MIXED = document(
    "blogs/kurkuma.txt",
    [
        ("Kurkuma", "skip:heading"),
        "\n\n",
        ("Kurkuma geneest alle ontstekingen.", "overclaimed", 0.93),
        " ",
        ("Het bewijs bij patiënten is nog beperkt.", "hedged", 0.81),
        "\n",
        ("Bestel vandaag nog met 20% korting!", "promotional", 0.88),
        "\n\n",
        ("Alles wissen", "skip:furniture"),
        "\n",
        ("Curcumine is een stof uit de wortel van de kurkumaplant.", "supported", 0.77),
        "\n",
    ],
)
CALM = document(
    "artikelen/vitamine-d.txt",
    [
        ("Vitamine D wordt in de huid aangemaakt onder invloed van zonlicht.", "supported", 0.9),
        " ",
        ("Raadpleeg bij twijfel je huisarts.", "hedged", 0.85),
    ],
)
SHOP = document(
    "shop/truffels.html",
    [
        ("Truffels genezen depressie voorgoed.", "overclaimed", 0.97),
        " ",
        ("Boek nu je retraite!", "promotional", 0.95),
        " ",
        ("Onderzoek loopt nog.", "hedged", 0.6),
    ],
)
EVIL = document(
    f"evil/{XSS_IMG}.html",
    [
        (f"Klik hier {XSS_SCRIPT} voor genezing.", "overclaimed", 0.9),
        " ",
        (f"Bestel{XSS_IMG} nu & betaal later.", "promotional", 0.8),
        " ",
        (f"<b>{XSS_SCRIPT}</b>", f"skip:{XSS_IMG}"),
    ],
)
DOCS = [CALM, MIXED, SHOP]  # flagged shares: 0, 0.5, 0.6667


# --- a tiny DOM, so tests read the page as a browser would ---------------------------------

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "col", "source", "area", "base", "embed"}


class Node:
    def __init__(self, tag: str, attrs: dict):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str, **attrs) -> list["Node"]:
        """Elements by tag; attrs match exactly, ``True`` means present, ``class_`` one class."""
        found = []
        for node in self.iter():
            if node.tag != tag:
                continue
            ok = True
            for key, want in attrs.items():
                if key == "class_":
                    ok = want in node.attrs.get("class", "").split()
                elif want is True:
                    ok = key.replace("_", "-") in node.attrs
                else:
                    ok = node.attrs.get(key.replace("_", "-")) == want
                if not ok:
                    break
            if ok:
                found.append(node)
        return found

    def by_id(self, ident: str) -> "Node":
        (node,) = [n for n in self.iter() if n.attrs.get("id") == ident]
        return node


class TreeBuilder(HTMLParser):
    """Builds a Node tree; strict: every end tag must close the innermost open element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def sentence_spans(root: Node, doc_id: str) -> list[Node]:
    return root.by_id(doc_id).find_all("span", data_label=True, data_confidence=True)


def overview_order(root: Node) -> list[str]:
    return [tr.attrs["data-doc"] for tr in root.by_id("overview-table").find_all("tr", data_doc=True)]


# --- pure tests -----------------------------------------------------------------------------


def test_page_is_html5_utf8_dutch():
    page = render_html(DOCS)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="nl">' in page
    assert '<meta charset="utf-8">' in page
    assert "patiënten" in page  # as-is, not &#235; or an escape
    parse(page)  # well formed


def test_every_sentence_once_in_a_span_with_its_label():
    root = parse(render_html(DOCS))
    for i, doc in enumerate(DOCS):
        spans = sentence_spans(root, f"doc-{i}")
        assert [(s.text(), s.attrs["data-label"]) for s in spans] == [
            (s.text, s.label) for s in doc.result.sentences
        ]
        assert all(s.attrs["class"].split() == ["s", f"l-{s.attrs['data-label']}"] for s in spans)
        page_text = root.by_id(f"doc-{i}").text()
        for s in doc.result.sentences:
            assert page_text.count(s.text) == 1


def test_full_text_is_shown_exactly_with_skipped_spans_dimmed():
    root = parse(render_html(DOCS))
    (container,) = root.by_id("doc-1").find_all("div", class_="doc-text")
    assert container.text() == MIXED.text  # every character between sentences kept, line breaks too
    skipped = container.find_all("span", class_="skip")
    assert [(s.text(), s.attrs["data-skipped"]) for s in skipped] == [
        ("Kurkuma", "heading"),
        ("Alles wissen", "furniture"),
    ]
    assert "white-space: pre-wrap" in render_html(DOCS)


def test_tooltips_and_data_attributes_carry_label_and_confidence():
    root = parse(render_html([MIXED]))
    first = sentence_spans(root, "doc-0")[0]
    assert first.attrs["title"] == "overclaimed · 0.93"
    assert first.attrs["data-confidence"] == "0.9300"
    for span, s in zip(sentence_spans(root, "doc-0"), MIXED.result.sentences):
        assert s.label in span.attrs["title"] and f"{s.confidence:.2f}" in span.attrs["title"]


def test_untrusted_text_is_escaped_everywhere():
    skipped = [SkippedFile(f"x/{XSS_SCRIPT}.bin", f"binary {XSS_IMG}")]
    page = render_html([EVIL, MIXED], skipped, title=f"scan {XSS_SCRIPT}")
    lowered = page.lower()
    assert "<script>alert" not in lowered
    assert "<img" not in lowered
    assert lowered.count("<script") == 1  # only the page's own sorter
    root = parse(page)
    assert not root.find_all("img") and len(root.find_all("script")) == 1
    # ... and the payloads survive as text, where a reader can see them
    spans = sentence_spans(root, "doc-0")
    assert [s.text() for s in spans] == [s.text for s in EVIL.result.sentences]
    assert root.by_id("doc-0").find_all("h3")[0].text() == EVIL.path
    assert root.find_all("title")[0].text() == f"scan {XSS_SCRIPT}"
    assert root.by_id("skipped-files").text().count(XSS_SCRIPT) == 1
    (skip,) = root.by_id("doc-0").find_all("span", class_="skip")
    assert skip.attrs["data-skipped"] == XSS_IMG
    # no element carries an event handler attribute
    assert not [n for n in root.iter() if any(a.startswith("on") for a in n.attrs)]


def test_no_external_resources():
    page = render_html([EVIL, *DOCS], [SkippedFile("https://example.org/x.pdf", "too large")])
    root = parse(page)
    for node in root.iter():
        for attr in ("src", "href", "srcset", "action", "poster", "data"):
            value = node.attrs.get(attr)
            if value is not None:
                assert "http://" not in value and "https://" not in value
                assert value.startswith("#"), f"{node.tag} {attr}={value!r}"
    lowered = page.lower()
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert not root.find_all("script", src=True)
    assert not root.find_all("iframe") and not root.find_all("object")


def test_csp_allows_exactly_the_pages_own_script():
    """A stale hash would silently block sorting in every browser; keep it honest here too."""
    root = parse(render_html(DOCS))
    (meta,) = root.find_all("meta", http_equiv="Content-Security-Policy")
    (script,) = root.find_all("script")
    digest = base64.b64encode(hashlib.sha256(script.text().encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in meta.attrs["content"]
    assert "default-src 'none'" in meta.attrs["content"]


def test_overview_sorted_by_share_flagged_highest_first():
    root = parse(render_html(DOCS))
    assert overview_order(root) == ["doc-2", "doc-1", "doc-0"]  # shop, kurkuma, vitamine
    table = root.by_id("overview-table")
    rows = table.find_all("tr", data_doc=True)
    heads = table.find_all("th")
    col = [h.attrs["data-key"] for h in heads].index("flagged")
    shares = [float(r.find_all("td")[col].attrs["data-sort"]) for r in rows]
    assert shares == sorted(shares, reverse=True) == [0.6667, 0.5, 0.0]
    assert [r.find_all("td")[col].text() for r in rows] == ["67%", "50%", "0%"]
    assert heads[col].attrs["aria-sort"] == "descending"
    # every column header is a button: the sorter's handle
    assert all(h.find_all("button") for h in heads)
    assert [h.attrs["data-key"] for h in heads] == [
        "path", "sentences", *LABELS, "flagged", "most_flagged"
    ]


def test_overview_row_contents_and_links():
    root = parse(render_html(DOCS))
    row = root.by_id("overview-table").find_all("tr", data_doc="doc-1")[0]
    cells = row.find_all("td")
    (link,) = cells[0].find_all("a")
    assert link.attrs["href"] == "#doc-1" and link.text() == MIXED.path
    root.by_id("doc-1")  # the link target exists
    counts = MIXED.result.summary["counts"]
    assert [c.text() for c in cells[1:6]] == [str(len(MIXED.result.sentences)), *(str(counts[l]) for l in LABELS)]
    most = cells[-1].find_all("span", data_label=True)[0]
    assert most.text() == "Kurkuma geneest alle ontstekingen."
    assert most.attrs["title"] == "overclaimed · 0.93"
    calm = root.by_id("overview-table").find_all("tr", data_doc="doc-0")[0]
    assert calm.find_all("td")[-1].text() == "—"


def test_legend_and_palette_cover_every_label():
    assert set(PALETTE) == set(LABELS)
    root = parse(render_html(DOCS))
    (legend,) = root.find_all("ul", class_="legend")
    assert [s.text() for s in legend.find_all("span", class_="swatch")] == [*LABELS, "skipped"]
    page = render_html(DOCS)
    for label in LABELS:
        assert re.search(rf"\.l-{label} \{{ background: {re.escape(PALETTE[label])};", page)


def test_skipped_files_are_listed():
    files = [SkippedFile("data/foto.jpg", "binary"), SkippedFile("data/huge.txt", "too large")]
    root = parse(render_html(DOCS, files))
    rows = root.by_id("skipped-files").find_all("tr")[1:]
    assert [[td.text() for td in r.find_all("td")] for r in rows] == [
        ["data/foto.jpg", "binary"],
        ["data/huge.txt", "too large"],
    ]
    assert not parse(render_html(DOCS)).find_all("section", id="skipped-files")


def test_no_documents_still_makes_a_page():
    page = render_html([])
    root = parse(page)
    assert "No documents." in root.by_id("overview").text()
    assert not root.find_all("table")
    page = render_html([], [SkippedFile("a.bin", "binary")])
    assert "a.bin" in parse(page).by_id("skipped-files").text()


def test_document_without_sentences_or_text():
    only_skipped = document("leeg.txt", [("Menu", "skip:furniture"), "\n", ("Inloggen", "skip:furniture")])
    empty = DocumentResult("niets.txt", "", ScoreResult("tiny", ()))
    root = parse(render_html([only_skipped, empty]))
    assert sentence_spans(root, "doc-0") == []
    assert root.by_id("doc-0").find_all("div", class_="doc-text")[0].text() == only_skipped.text
    assert "0 sentences" in root.by_id("doc-0").text()
    assert "(empty text)" in root.by_id("doc-1").text()
    assert overview_order(root) == ["doc-0", "doc-1"]  # ties keep the input order


def test_bad_offsets_never_drop_or_repeat_text():
    text = "Een. Twee. Drie."
    scores = {l: 0.25 for l in LABELS}
    sentences = (
        SentenceScore(0, 0, 9, "Een. Twee", "supported", 0.5, scores),
        SentenceScore(1, 5, 10, "Twee.", "hedged", 0.5, scores),  # overlaps the first
        SentenceScore(2, 11, 99, "Drie.", "overclaimed", 0.5, scores),  # runs past the end
    )
    doc = DocumentResult("raar.txt", text, ScoreResult("tiny", sentences, (Skipped(3, 12, "x", "odd"),)))
    root = parse(render_html([doc]))
    assert root.by_id("doc-0").find_all("div", class_="doc-text")[0].text() == text
    assert len(sentence_spans(root, "doc-0")) == 3


def test_thousands_of_sentences():
    pieces = []
    labels = list(LABELS)
    for i in range(6000):
        pieces += [(f"Zin {i} over patiënten & <dingen>.", labels[i % 4], 0.5 + (i % 50) / 100), " "]
        if i % 100 == 0:
            pieces += [(f"Kop {i}", "skip:heading"), "\n"]
    big = document("groot.txt", pieces)
    started = time.perf_counter()
    page = render_html([big, CALM])
    assert time.perf_counter() - started < 5
    assert page.count('data-confidence="') == 6000 + len(CALM.result.sentences)
    root = parse(page)
    assert root.by_id("doc-0").find_all("div", class_="doc-text")[0].text() == big.text


def test_lone_surrogates_do_not_break_writing_the_page(tmp_path):
    doc = document("kapot.txt", [("Bestel nu \udce9!", "promotional", 0.9)])
    page = render_html([doc])
    (tmp_path / "r.html").write_text(page, encoding="utf-8")


def test_render_score_html_is_the_same_page_for_one_input():
    doc = MIXED
    page = render_score_html(doc.result, doc.text)
    root = parse(page)
    assert root.find_all("title")[0].text() == "nuchter"
    assert root.by_id("doc-0").find_all("h3")[0].text() == "input"
    assert overview_order(root) == ["doc-0"]
    assert [s.text() for s in sentence_spans(root, "doc-0")] == [s.text for s in doc.result.sentences]
    assert render_score_html(doc.result, doc.text, title="x") == render_html(
        [DocumentResult("input", doc.text, doc.result)], title="x"
    )


# --- a real browser ---------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI and this container run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium(tmp_path, *args: str, timeout: float = 60) -> str:
    """Run headless chromium once; kill its whole process group if it hangs."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (CI installs it)")
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish in {timeout} s: {' '.join(cmd)}")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
    return out


@pytest.fixture()
def browser_page(tmp_path):
    path = tmp_path / "rapport.html"
    page = render_html([*DOCS, EVIL], [SkippedFile("foto.jpg", "binary")], title="nuchter — test")
    path.write_text(page, encoding="utf-8")
    return path


def dump_dom(tmp_path, path, fragment: str = "") -> Node:
    dom = chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom", path.as_uri() + fragment)
    assert "<img" not in dom.lower()  # the payload stayed text in the live DOM as well
    return parse(dom)


def test_browser_runs_the_sorter_and_keeps_the_initial_order(tmp_path, browser_page):
    root = dump_dom(tmp_path, browser_page)
    table = root.by_id("overview-table")
    assert "js-sortable" in table.attrs["class"].split()  # the script ran: the CSP hash matched
    # EVIL (doc-3) flags everything; CALM (doc-0) nothing
    assert overview_order(root) == ["doc-3", "doc-2", "doc-1", "doc-0"]
    assert len(root.find_all("span", data_confidence=True)) == sum(
        len(d.result.sentences) for d in [*DOCS, EVIL]
    )


def test_browser_sorts_from_the_url_hash(tmp_path, browser_page):
    by_path = dump_dom(tmp_path, browser_page, "#sort=path")
    assert overview_order(by_path) == ["doc-0", "doc-1", "doc-3", "doc-2"]  # artikelen, blogs, evil, shop
    th = by_path.by_id("overview-table").find_all("th", data_key="path")[0]
    assert th.attrs["aria-sort"] == "ascending"
    by_size = dump_dom(tmp_path, browser_page, "#sort=-sentences")
    # 4, 3, 2, 2 sentences; the tie keeps the order it had (by share flagged: evil before calm)
    assert overview_order(by_size) == ["doc-1", "doc-2", "doc-3", "doc-0"]


def test_browser_header_clicks_sort(tmp_path, browser_page):
    """Clicks the real header buttons. The page's CSP rightly blocks any script but its own, so
    this copy drops the CSP to let a test driver click and record the row order."""
    page = browser_page.read_text(encoding="utf-8")
    page, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    assert n == 1
    driver = """<script>
    var t = document.getElementById("overview-table"), log = [];
    function order() { return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.getAttribute("data-doc"); }).join(","); }
    function click(key) { t.querySelector('th[data-key="' + key + '"] button').click(); log.push(key + "=" + order()); }
    click("path"); click("path"); click("sentences"); click("flagged");
    document.body.setAttribute("data-log", log.join(" "));
    </script></body>"""
    driven = tmp_path / "driven.html"
    driven.write_text(page.replace("</body>", driver), encoding="utf-8")
    root = dump_dom(tmp_path, driven)
    (body,) = root.find_all("body")
    assert body.attrs["data-log"].split() == [
        "path=doc-0,doc-1,doc-3,doc-2",  # text: ascending first
        "path=doc-2,doc-3,doc-1,doc-0",  # second click: descending
        "sentences=doc-1,doc-2,doc-3,doc-0",  # numbers: descending first, ties keep their order
        "flagged=doc-3,doc-2,doc-1,doc-0",
    ]


def test_browser_screenshot(tmp_path, browser_page):
    shot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", browser_page.as_uri())
    assert shot.exists()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
