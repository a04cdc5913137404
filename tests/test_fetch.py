"""Scoring web pages by URL (`score --url`, `scan --urls`, `serve --allow-fetch`), against a local
http.server on 127.0.0.1: never a real site."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from nuchter.classify import load_classifier
from nuchter.cli.main import app
from nuchter.fetch import FetchError, FetchPolicy, _refused_address, check_url, fetch, read_url_list
from nuchter.web.service import ServeConfig, create_app

runner = CliRunner()
PAGE = (
    "<html><head><meta charset='utf-8'><title>Kurkuma Kracht</title>"
    "<meta property='og:title' content='Kurkuma &amp; ontsteking'></head><body>"
    "<nav>Home | Winkel | Contact</nav><article><h1>Kurkuma en ontsteking</h1>"
    "<p>Kurkuma geneest alle ontstekingen in je lichaam binnen een week. Onderzoek bij mensen laat gemengde "
    "resultaten zien. Bestel vandaag nog met 20% korting!</p>"
    "<p>Een kleine studie vond mogelijk een effect op gewrichtspijn, maar meer onderzoek is nodig.</p>"
    "</article><footer>© Kurkuma Kracht</footer></body></html>"
)
TEXT = "Magnesium geneest hoofdpijn altijd. Een studie bij dertig mensen vond een klein effect."


class Handler(BaseHTTPRequestHandler):
    agents: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        Handler.agents.append(self.headers.get("User-Agent", ""))
        path = self.path
        if path == "/page.html":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/cp1252.txt":
            self._send(200, "Ginseng beïnvloedt je energie mogelijk een beetje.".encode("cp1252"), "text/plain")
        elif path == "/plain.txt":
            self._send(200, TEXT.encode(), "text/plain; charset=utf-8")
        elif path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            self._send(302, b"", "text/html", Location=f"/hop/{left - 1}" if left else "/page.html")
        elif path == "/to-ftp":
            self._send(301, b"", "text/html", Location="ftp://127.0.0.1/file")
        elif path == "/image.png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")
        elif path == "/big.html":
            self._send(200, b"<p>" + b"a" * 300_000 + b"</p>", "text/html")
        else:
            self._send(404, b"not here", "text/plain")


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- the fetcher ------------------------------------------------------------------------------------


def test_fetch_gives_main_text_and_title(site):
    page = fetch(f"{site}/page.html")
    assert page.url == page.final_url == f"{site}/page.html"
    assert page.title == "Kurkuma & ontsteking"
    assert "Kurkuma geneest alle ontstekingen" in page.text and "Winkel" not in page.text
    assert "nuchter/" in Handler.agents[-1]


def test_plain_text_and_its_charset(site):
    assert fetch(f"{site}/plain.txt").text == TEXT
    assert "beïnvloedt" in fetch(f"{site}/cp1252.txt").text  # no charset declared: UTF-8, else Windows-1252


def test_redirects_are_followed_up_to_the_cap(site):
    page = fetch(f"{site}/hop/2")
    assert page.url == f"{site}/hop/2" and page.final_url == f"{site}/page.html"
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetch(f"{site}/hop/5")
    with pytest.raises(FetchError, match="only http:// and https://"):
        fetch(f"{site}/to-ftp")


@pytest.mark.parametrize("path, message", [
    ("/missing", "HTTP 404"), ("/image.png", "serves image/png"), ("/big.html", "over the 100 KB limit"),
])
def test_what_cannot_be_scored_is_refused(site, path, message):
    with pytest.raises(FetchError, match=message):
        fetch(f"{site}{path}", FetchPolicy(max_bytes=100 * 1024))


def test_unreachable_and_slow(site):
    with pytest.raises(FetchError, match="cannot connect|timed out"):
        fetch("http://127.0.0.1:9/nothing")


@pytest.mark.parametrize("url, message", [
    ("file:///etc/passwd", "only http"), ("ftp://example.org/x", "only http"), ("javascript:alert(1)", "only http"),
    ("http://user:pw@example.org/", "user name or password"), ("http:///path", "no host"),
    ("http://example.org:99999/", "not a valid URL"),
])
def test_bad_urls(url, message):
    with pytest.raises(FetchError, match=message):
        check_url(url)


SERVER_POLICY = FetchPolicy(allow_private=False)  # what `serve --allow-fetch` uses


def test_a_server_policy_refuses_its_own_network(site):
    with pytest.raises(FetchError, match="private, loopback or reserved"):
        fetch(f"{site}/page.html", SERVER_POLICY)
    with pytest.raises(FetchError, match="private, loopback or reserved"):
        fetch(site.replace("127.0.0.1", "localhost") + "/page.html", SERVER_POLICY)
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4", "169.254.169.254", "0.0.0.0",
                    "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1"):
        assert _refused_address(address), address
    for address in ("93.184.216.34", "2606:4700:4700::1111"):
        assert not _refused_address(address), address


def test_url_lists(tmp_path):
    listing = tmp_path / "links.txt"
    listing.write_text("# te controleren\nhttps://a.example/x\n\n  https://b.example/y  \nhttps://a.example/x\n")
    assert read_url_list(listing) == ["https://a.example/x", "https://b.example/y"]
    listing.write_text("# alleen commentaar\n")
    with pytest.raises(Exception, match="no URLs"):
        read_url_list(listing)


# --- score --url and scan --urls --------------------------------------------------------------------


def test_score_url_carries_url_and_title(site, tiny_model):
    url = f"{site}/page.html"
    result = runner.invoke(app, ["score", "--url", url, "--model", str(tiny_model), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["url"] == url and data["title"] == "Kurkuma & ontsteking"
    assert [s["text"] for s in data["sentences"]][0] == "Kurkuma geneest alle ontstekingen in je lichaam binnen een week."

    rows = list(csv.DictReader(runner.invoke(app, ["score", "--url", url, "--model", str(tiny_model),
                                                   "--format", "csv"]).stdout.splitlines()))
    assert rows and {r["url"] for r in rows} == {url} and {r["title"] for r in rows} == {"Kurkuma & ontsteking"}

    page = runner.invoke(app, ["score", "--url", url, "--model", str(tiny_model), "--format", "html"]).stdout
    assert "Kurkuma &amp; ontsteking" in page and f'href="{url}"' in page and 'rel="noopener noreferrer nofollow"' in page


@pytest.mark.parametrize("args, message", [
    (["--url", "{site}/missing"], "HTTP 404"),
    (["--url", "file:///etc/passwd"], "only http"),
    (["--url", "{site}/page.html", "--file", "x.txt"], "one of TEXT, --file or --url"),
])
def test_score_url_errors_are_one_line(site, tiny_model, args, message):
    result = runner.invoke(app, ["score", *[a.format(site=site) for a in args], "--model", str(tiny_model)])
    assert result.exit_code != 0 and message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_scan_urls_reports_failures_per_url_and_goes_on(site, tiny_model, tmp_path):
    listing = tmp_path / "links.txt"
    listing.write_text(f"# lijst\n{site}/page.html\n{site}/missing\nftp://127.0.0.1/x\n{site}/plain.txt\n")
    summary, html, out = tmp_path / "docs.csv", tmp_path / "r.html", tmp_path / "zinnen.jsonl"
    result = runner.invoke(app, ["scan", "--urls", str(listing), "--model", str(tiny_model), "--summary", str(summary),
                                 "--html", str(html), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in csv.DictReader(summary.open(encoding="utf-8"))}
    assert rows[f"{site}/page.html"]["status"] == "scored" and rows[f"{site}/page.html"]["title"] == "Kurkuma & ontsteking"
    assert rows[f"{site}/plain.txt"]["status"] == "scored"
    assert rows[f"{site}/missing"]["status"] == "skipped: the server answered HTTP 404"
    assert "only http" in rows["ftp://127.0.0.1/x"]["status"]
    assert "HTTP 404" in result.stderr
    sentences = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {s["path"] for s in sentences} == {f"{site}/page.html", f"{site}/plain.txt"}
    report = html.read_text(encoding="utf-8")
    assert 'class="page-title">Kurkuma &amp; ontsteking' in report and f'href="{site}/page.html"' in report


def test_scan_needs_something_to_scan(tiny_model):
    result = runner.invoke(app, ["scan", "--model", str(tiny_model)])
    assert result.exit_code == 2 and "nothing to scan" in result.stderr


# --- serve: off by default, private addresses refused unless allowed --------------------------------


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return load_classifier(str(tiny_model))


def client(classifier, **settings) -> TestClient:
    return TestClient(create_app(classifier, config=ServeConfig(**settings)))


def test_serve_does_not_fetch_unless_told(site, classifier):
    with client(classifier) as api:
        for path in ("/api/score", "/api/fetch"):
            response = api.post(path, json={"url": f"{site}/page.html"})
            assert response.status_code == 403 and "--allow-fetch" in response.json()["error"]
        assert 'id="url-form"' not in api.get("/").text
    with client(classifier, allow_fetch=True) as api:
        response = api.post("/api/score", json={"url": f"{site}/page.html"})
        assert response.status_code == 400 and "private, loopback" in response.json()["error"]
        assert 'id="url-form"' in api.get("/").text


def test_serve_fetches_with_allow_private(site, classifier):
    with client(classifier, allow_fetch=True, allow_private=True) as api:
        data = api.post("/api/score", json={"url": f"{site}/page.html"}).json()
        assert data["url"] == f"{site}/page.html" and data["title"] == "Kurkuma & ontsteking"
        assert all(data["text"][s["start"]:s["end"]] == s["text"] for s in data["sentences"])
        page = api.post("/api/fetch", json={"url": f"{site}/page.html"}).json()
        assert page["text"] == data["text"] and page["title"] == data["title"]
        both = api.post("/api/score", json={"url": f"{site}/page.html", "text": "Kurkuma geneest alles."})
        assert both.status_code == 422 and "not both" in both.json()["error"]
        assert api.post("/api/score", json={}).status_code == 422
        missing = api.post("/api/score", json={"url": f"{site}/missing"})
        assert missing.status_code == 400 and "HTTP 404" in missing.json()["error"]


def test_allow_private_needs_allow_fetch(tiny_model):
    result = runner.invoke(app, ["serve", "--allow-private", "--model", str(tiny_model)])
    assert result.exit_code != 0 and "allow_fetch" in result.stderr
