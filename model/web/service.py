"""`nuchter serve`: the web page and the JSON API over one loaded model.

The app is FastAPI on uvicorn. The model is loaded once; requests are
segmented in worker threads and their sentences scored together by a
:class:`~nuchter.web.batching.MicroBatcher`, so the event loop never runs the
model. ``/api/score`` answers with exactly the JSON `nuchter score --format
json` prints, built by the same code (``pipeline`` and ``reports.tables``). Every
error is ``{"error": "<one line>"}`` with its status; bad input is never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from nuchter.reports import tables as report
from nuchter.web.batching import MicroBatcher
from nuchter.config import ScoreConfig
from nuchter.errors import InputError, NuchterError
from nuchter.extract import clean_text, html_to_text
from nuchter.fetch import FetchPolicy, WebPage, fetch
from nuchter.labels import LABELS
from nuchter.web.label_studio import LabelStudioSettings, add_routes
from nuchter.web.page import CSP, render_page
from nuchter.pipeline import PreparedPage, prepare, score_pages
from nuchter.results import ScoreResult, Source

log = logging.getLogger("nuchter.web.service")
SETTINGS_ENV = "NUCHTER_SERVE_SETTINGS"
"""How `--workers N` hands the settings to each worker process."""


@dataclass(frozen=True)
class ServeConfig:
    """Settings of `nuchter serve`; CLI options map one-to-one onto these fields."""

    score: ScoreConfig = field(default_factory=ScoreConfig)
    """How sentences are scored (model, backend, batch size, …): the same settings as `nuchter score`."""
    host: str = "127.0.0.1"
    """Interface to listen on; loopback unless told otherwise."""
    port: int = 8000
    """TCP port; 0 lets the system pick a free one."""
    workers: int = 1
    """Server processes, each with its own copy of the model."""
    max_bytes: int = 1_000_000
    """Largest request body accepted (413 above it)."""
    max_wait_ms: float = 5.0
    """How long a batch waits for concurrent requests to join it."""
    allow_fetch: bool = False
    """Fetch pages by URL ("url" in /api/score, /api/fetch, the page's URL field). Off by default: a server
    that fetches what it is told can be made to reach what only it can reach (SSRF)."""
    allow_private: bool = False
    """With allow_fetch, also fetch from private, loopback and link-local addresses (for tests on one machine)."""
    label_studio: LabelStudioSettings | None = None
    """Also speak Label Studio's ML backend protocol (/health, /setup, /predict, /webhook), with these settings."""

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be between 0 and 65535, got {self.port}")
        if self.workers < 1:
            problems.append(f"workers must be at least 1, got {self.workers}")
        if self.max_bytes < 1024:
            problems.append(f"max_bytes must be at least 1024, got {self.max_bytes}")
        if self.label_studio is not None and self.workers > 1:
            problems.append("the Label Studio backend runs one training at a time: use it with one worker")
        if self.allow_private and not self.allow_fetch:
            problems.append("allow_private only matters with allow_fetch (--allow-fetch)")
        if not 0 <= self.max_wait_ms <= 1000:
            problems.append(f"max_wait_ms must be between 0 and 1000, got {self.max_wait_ms}")
        if problems:
            raise NuchterError("; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict) -> "ServeConfig":
        """The inverse of ``dataclasses.asdict``: how `--workers N` hands settings to each worker."""
        values = dict(values)
        studio = values.pop("label_studio", None)
        if studio is not None:
            studio = LabelStudioSettings(**{**studio, "train_data": tuple(studio.get("train_data", ()))})
        return cls(score=ScoreConfig(**values.pop("score", {})), label_studio=studio, **values)


# --- request and response shapes (the response models only document; answers are built by report) ---


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="Dutch text to score. Stray control characters are dropped, as on `nuchter score`'s stdin.")
    url: str | None = Field(None, description="Instead of text: a web page to fetch and score (only on a server started with --allow-fetch). The answer then carries the page's `url`, `title` and the `text` that was scored.")
    lines: StrictBool = Field(False, description="Score every line as one unit (`nuchter score --lines`).")
    explain: StrictBool = Field(False, description="Add `evidence` to each sentence (`nuchter score --explain`): the words that pushed it towards its label.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1, description="Texts to score; the answer keeps their order.")
    lines: StrictBool = Field(False, description="Score every line as one unit.")
    explain: StrictBool = Field(False, description="Add `evidence` to each sentence.")


class FetchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="An http(s) page to fetch (only on a server started with --allow-fetch).")


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    html: str = Field(description="A saved web page; nothing it links to is fetched.")


class EvidenceOut(BaseModel):
    start: int = Field(description="Character offset into the request's text: text[start:end] is the span.")
    end: int
    text: str
    weight: float = Field(description="How much the label's probability drops when the span is left out.")


class SentenceOut(BaseModel):
    index: int
    start: int = Field(description="Character offset: text[start:end] is the sentence.")
    end: int
    text: str
    label: str = Field(description=" | ".join(LABELS))
    confidence: float
    scores: dict[str, float]
    evidence: list[EvidenceOut] | None = Field(None, description='Only with "explain": true; strongest first.')


class SkippedOut(BaseModel):
    start: int
    end: int
    text: str
    reason: str = Field(description="heading, reference, url or furniture")


class SummaryOut(BaseModel):
    sentences: int
    counts: dict[str, int]
    flagged: int
    flagged_share: float


class ScoreOut(BaseModel):
    """Exactly what `nuchter score --format json` prints."""

    model: str
    sentences: list[SentenceOut]
    skipped: list[SkippedOut]
    summary: SummaryOut


class ErrorOut(BaseModel):
    error: str = Field(description="One line that says what to fix.")


ERRORS = {
    400: {"model": ErrorOut, "description": "Empty text, no scorable sentence, a page that cannot be fetched, or a body that is not valid JSON"},
    403: {"model": ErrorOut, "description": "A URL sent to a server started without --allow-fetch"},
    413: {"model": ErrorOut, "description": "Body over the server's --max-bytes"},
    415: {"model": ErrorOut, "description": "Body not sent as application/json"},
    422: {"model": ErrorOut, "description": "Missing, unknown or mistyped fields"},
}

EXPECTED = {
    "/api/score": '{"text": "...", "lines": false, "explain": false}',
    "/api/fetch": '{"url": "https://..."}',
    "/api/score-batch": '{"texts": ["...", "..."], "lines": false, "explain": false}',
    "/api/extract": '{"html": "..."}',
}


# --- scoring ---------------------------------------------------------------------------------


class _Refused(Exception):
    """A request for what this server was not started to do (403)."""


class Scorer:
    """One loaded classifier behind a micro-batcher."""

    def __init__(self, classifier, config: ScoreConfig, max_wait_ms: float):
        self.classifier = classifier
        self.config = config
        self.name = classifier.name
        # Batch items are (sentence, page context) pairs, so requests of different pages share a call
        # and each sentence still gets its own neighbours, exactly as `nuchter score` feeds them.
        self.batcher = MicroBatcher(
            lambda items: classifier.predict([t for t, _ in items], contexts=[c for _, c in items],
                                             batch_size=config.batch_size, max_length=config.max_length),
            max_wait=max_wait_ms / 1000,
        )

    @staticmethod
    def _prepare(text: str, lines: bool, where: str):
        try:
            return (*prepare(clean_text(text, where), lines), lines)
        except InputError as error:
            message = str(error).replace("use --lines", 'set "lines": true')
            raise InputError(message if where == "the text" else f"{where}: {message}") from None

    async def prepare(self, text: str, lines: bool, where: str = "the text"):
        """Segmentation, off the event loop (a long text takes a while)."""
        return await run_in_threadpool(self._prepare, text, lines, where)

    def batched(self) -> "_Batched":
        """The classifier for a worker thread: its calls go through the micro-batcher. Call it on the event loop."""
        return _Batched(self.classifier, self.batcher, asyncio.get_running_loop())

    async def finish(self, prepared, explain: bool = False, source: Source | None = None) -> ScoreResult:
        """The one scoring path (``nuchter.pipeline.score_pages``) in a worker thread; its model calls,
        explanations' included, go through the micro-batcher, so concurrent requests share them."""
        sentences, skipped, lines = prepared
        results = await run_in_threadpool(
            score_pages, [PreparedPage(sentences, skipped, lines, source)], self.batched(),
            batch_size=self.config.batch_size, max_length=self.config.max_length, explain_evidence=explain,
        )
        return results[0]


class _Batched:
    """The classifier as the scoring path sees it from a worker thread: each ``predict`` waits for the
    micro-batcher on the event loop (which pools it with other requests' sentences)."""

    def __init__(self, classifier, batcher: MicroBatcher, loop: asyncio.AbstractEventLoop):
        self.name = classifier.name
        self.inputs = getattr(classifier, "inputs", None)
        self.labels = getattr(classifier, "labels", LABELS)
        self._batcher, self._loop = batcher, loop

    def predict(self, texts, *, contexts=None, batch_size=None, max_length=None):
        pairs = list(zip(texts, contexts if contexts is not None else [""] * len(texts)))
        return asyncio.run_coroutine_threadsafe(self._batcher.predict(pairs), self._loop).result()


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _field_error(exc: RequestValidationError) -> tuple[int, str]:
    """The first validation problem as one line; malformed JSON is a 400, wrong fields a 422."""
    problems = exc.errors()
    first = problems[0] if problems else {"msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return 400, f"the body is not valid JSON{': ' + str(detail) if detail else ''}"
    lines = []
    for problem in problems[:3]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        message = {"extra_forbidden": "unknown field", "model_attributes_type": "the body must be a JSON object"}.get(
            problem.get("type"), problem.get("msg", "invalid value"))
        lines.append(f"{where + ': ' if where else ''}{message}")
    return 422, "; ".join(lines) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


class BodyGuard:
    """Pure ASGI middleware: POSTs to /api/ must be JSON and at most ``max_bytes``, checked before parsing."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            got = f" (got {media!r})" if media else ""
            return await error(415, f"send the body as JSON with the header content-type: application/json{got}")(
                scope, receive, send)
        limit = f"the body is over this server's limit of {self.max_bytes:,} bytes (nuchter serve --max-bytes)"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await error(413, limit)(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await error(413, limit)(scope, receive, send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not body.strip():
            return await error(400, 'the body is empty: send a JSON object such as {"text": "…"}')(scope, receive, send)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return await error(400, f"the body is not valid UTF-8 (byte {exc.start}): send JSON encoded as UTF-8")(
                scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def model_info(classifier, path: Path | None) -> dict:
    """`GET /api/model`: what is loaded, and its figures from metrics.json."""
    from nuchter.store import read_metrics

    metrics = read_metrics(path) if path is not None else {}

    def figures(split: str) -> dict | None:
        m = metrics.get(split)
        if not m:
            return None
        return {"macro_f1": m.get("macro_f1"), "accuracy": m.get("accuracy"),
                "f1": {label: (m.get("per_label") or {}).get(label, {}).get("f1") for label in LABELS}}

    return {
        "name": classifier.name,
        "labels": list(getattr(classifier, "labels", LABELS)),
        "base_model": metrics.get("base_model"),
        "serving": type(classifier).__name__,
        "dev": figures("dev"),
        "test": figures("test"),
    }


def create_app(classifier, *, config: ServeConfig | None = None, model_path: Path | None = None) -> FastAPI:
    """The service over an already loaded classifier (tests pass a tiny one)."""
    config = config or ServeConfig()
    scorer = Scorer(classifier, config.score, config.max_wait_ms)
    info = model_info(classifier, model_path)
    page = render_page(classifier.name, config.max_bytes, fetch=config.allow_fetch)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await scorer.batcher.close()

    app = FastAPI(
        title="nuchter",
        summary="Label Dutch health text, sentence by sentence, as supported, hedged, overclaimed or promotional.",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.scorer = scorer
    app.add_middleware(BodyGuard, max_bytes=config.max_bytes)
    _docs(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        status, message = _field_error(exc)
        if status == 422 and request.url.path in EXPECTED:
            message += f"; send {EXPECTED[request.url.path]}"
        return error(status, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error(404, f"no such page: {request.url.path} (the page is /, the API is under /api/, docs at /docs)")
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        log.exception("error while answering %s", request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    fetch_policy = FetchPolicy(allow_private=config.allow_private)

    async def fetched(url: str) -> WebPage:
        if not config.allow_fetch:
            raise _Refused("this server does not fetch URLs; start it with --allow-fetch, or send the text")
        return await run_in_threadpool(fetch, url, fetch_policy)

    @app.post("/api/score", response_model=None, responses={200: {"model": ScoreOut}, **ERRORS})
    async def score(request: ScoreRequest):
        """Score one text, or one page by its URL: exactly the JSON of `nuchter score --format json` (`--url`)."""
        if (request.text is None) == (request.url is None):
            return error(422, 'give "text" or "url", not both' if request.text is not None
                         else 'text: Field required (or give "url", a page to fetch)')
        try:
            if request.url is not None:
                page = await fetched(request.url)
                prepared = await scorer.prepare(page.text, request.lines, request.url)
                result = await scorer.finish(prepared, request.explain, Source(page.url, page.title))
                body = {**result.to_dict(), "text": page.text}
                return Response(json.dumps(body, ensure_ascii=False, indent=2) + "\n", media_type="application/json")
            result = await scorer.finish(await scorer.prepare(request.text, request.lines), request.explain)
        except _Refused as problem:
            return error(403, str(problem))
        except InputError as problem:
            return error(400, str(problem))
        return Response(report.to_json(result) + "\n", media_type="application/json")

    @app.post("/api/fetch", responses=ERRORS)
    async def fetch_page(request: FetchRequest) -> dict:
        """A web page's title and main text, fetched by the server (only with --allow-fetch): the page's URL field uses it."""
        try:
            page = await fetched(request.url)
        except _Refused as problem:
            return error(403, str(problem))
        except InputError as problem:
            return error(400, str(problem))
        return {"url": page.url, "final_url": page.final_url, "title": page.title, "text": page.text}

    @app.post("/api/score-batch", response_model=None, responses={200: {"model": list[ScoreOut]}, **ERRORS})
    async def score_batch(request: BatchRequest):
        """Score several texts; the answer is a list of `/api/score` objects in the same order."""
        try:
            prepared = await asyncio.gather(*(scorer.prepare(t, request.lines, f"texts[{i}]")
                                              for i, t in enumerate(request.texts)))
        except InputError as problem:
            return error(400, str(problem))
        results = await asyncio.gather(*(scorer.finish(p, request.explain) for p in prepared))
        body = json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2)
        return Response(body + "\n", media_type="application/json")

    @app.post("/api/extract", responses=ERRORS)
    async def extract(request: ExtractRequest) -> dict:
        """The main text of a saved web page (what `nuchter scan` scores for .html): the page's file picker uses it."""
        text = await run_in_threadpool(html_to_text, clean_text(request.html, "the HTML"))
        if not text.strip():
            return error(400, "no main text found in that HTML")
        return {"text": text}

    @app.get("/api/health")
    async def health() -> dict:
        return {"status": "ok", "model": classifier.name}

    @app.get("/api/model")
    async def model() -> dict:
        """The model's name, labels, base model and its dev/test figures from metrics.json."""
        return info

    if config.label_studio is not None:
        add_routes(app, scorer, config.label_studio)
    return app


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nuchter")
    except Exception:  # not installed as a distribution
        return "0"


def _docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the local swagger-ui-bundle package, so it works offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - a dependency; fall back to FastAPI's CDN page
        swagger_ui_path = None
    assets = {}
    if swagger_ui_path:
        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
        assets = {"swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
                  "swagger_css_url": "/docs-assets/swagger-ui.css",
                  "swagger_favicon_url": "/docs-assets/favicon-32x32.png"}

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="nuchter API", **assets)


# --- running it ------------------------------------------------------------------------------


def load(config: ServeConfig):
    """The classifier and, for a local model, its folder (for metrics.json)."""
    import sys

    from nuchter.classify import load_classifier, looks_local, resolve_model

    scoring = config.score
    name = resolve_model(scoring.model)
    classifier = load_classifier(name, threads=scoring.threads, backend=scoring.backend, int8=scoring.int8,
                                 warn=lambda message: print(f"warning: {message}", file=sys.stderr))
    return classifier, (Path(name).expanduser() if looks_local(name) else None)


def app_from_environment() -> FastAPI:
    """Factory for worker processes (`--workers N`): settings come from the environment."""
    config = ServeConfig.from_dict(json.loads(os.environ[SETTINGS_ENV]))
    classifier, path = load(config)
    return create_app(classifier, config=config, model_path=path)


def listen(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port or a bad host is a one-line error before anything starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # connections made before uvicorn runs wait in the backlog instead of being refused
    except OSError as exc:
        raise NuchterError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run(config: ServeConfig, *, announce=print) -> None:
    """Load the model, bind, print the URL, serve until Ctrl-C or SIGTERM."""
    import uvicorn

    if config.workers == 1:
        classifier, path = load(config)
        app = create_app(classifier, config=config, model_path=path)
        uv = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    else:
        load(config)  # fail here, once, with a clear message, rather than in every worker
        os.environ[SETTINGS_ENV] = json.dumps(asdict(config))
        uv = uvicorn.Config("nuchter.web.service:app_from_environment", factory=True, workers=config.workers,
                            log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    sock = listen(config.host, config.port)
    announce(f"nuchter serve: open {url_of(sock)} (API docs at {url_of(sock)}docs); Ctrl-C stops")
    if config.label_studio is not None:
        announce(f"Label Studio ML backend: connect {url_of(sock).rstrip('/')} in the project's Settings → Model")
    server = uvicorn.Server(uv)
    # uvicorn re-raises the signal that stopped it once it has shut down; these make that a quiet return.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if config.workers == 1:
            server.run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(uv, sockets=[sock]).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
