"""The page `nuchter serve` shows at ``/``: paste text, score it, see every sentence in its colour.

One self-contained page (no external scripts, styles or fonts) with the HTML
report's colours and legend. Pasted text is untrusted: the script builds
the result with ``textContent`` and ``createElement`` only, never markup, and
a Content-Security-Policy lets only this page's own script run (pinned by
its hash) and only talk to its own server.
"""

from __future__ import annotations

from nuchter.reports.html import STYLESHEET, esc, legend_html, script_policy, static_text
from nuchter.labels import FLAGGED, LABELS

_PAGE_CSS = static_text(__package__, "page.css")

# Builds every node with createElement/textContent: no text ever becomes markup.
# The same control characters as nuchter.extract.clean_text are dropped before
# sending, so the offsets the server returns index the text shown here.
# Offsets count code points, so the text is split with Array.from (not UTF-16 units).
_JS = static_text(__package__, "page.js")

CSP = script_policy(_JS, "connect-src 'self'", "frame-ancestors 'none'")
"""Sent as a header and a meta tag: only the page's own script runs, and it only talks to this server."""

PLACEHOLDER = ("Plak hier een Nederlandse tekst, bijvoorbeeld: Psilocybine geneest depressie, zonder "
               "bijwerkingen. Het bewijs bij mensen is nog beperkt. Boek nu je retraite met 20% korting!")


URL_FIELD = """<form id="url-form" novalidate>
<label class="field" for="url">Or a web page to fetch and score</label>
<div class="controls"><input type="url" id="url" name="url" placeholder="https://" spellcheck="false">
<button type="submit" id="fetch">Fetch and score</button></div>
</form>
"""
"""Shown only when the server was started with --allow-fetch."""


def render_page(model_name: str, max_bytes: int, fetch: bool = False) -> str:
    """The whole page; the model name is shown, escaped like everything else."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nuchter</title>
<style>{STYLESHEET}{_PAGE_CSS}</style>
</head>
<body data-labels="{esc(' '.join(LABELS))}" data-flagged="{esc(' '.join(l for l in LABELS if l in FLAGGED))}" data-max-bytes="{int(max_bytes)}">
<main>
<h1>nuchter</h1>
<p class="meta">Paste Dutch health or wellness text to see, sentence by sentence, where it goes too far. Model: {esc(model_name)}.</p>
{legend_html()}<form id="score-form" novalidate>
<label class="field" for="text">Text to score</label>
<textarea id="text" name="text" lang="nl" spellcheck="false" placeholder="{esc(PLACEHOLDER)}" aria-describedby="keys"></textarea>
<p class="hint" id="keys">Ctrl+Enter scores the text. It is sent only to this nuchter server.</p>
<div class="controls">
<button type="submit" id="score">Score</button>
<label><input type="checkbox" id="lines" name="lines"> one sentence per line (no splitting)</label>
<label><input type="checkbox" id="explain" name="explain"> explain (underline the words behind each label; slower)</label>
<label>Or open a file <input type="file" id="file" accept=".txt,.md,.html,.htm,text/plain,text/markdown,text/html"></label>
</div>
</form>
{URL_FIELD if fetch else ""}<p id="status" role="status" aria-live="polite"></p>
<section id="result" class="doc" hidden aria-label="result">
<p id="summary" class="summary"></p>
<p id="detail" aria-live="polite"></p>
<div id="output" class="doc-text"></div>
</section>
</main>
<script>{_JS}</script>
</body>
</html>
"""
