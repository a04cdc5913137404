"""URL → page: fetch one web page for scoring, defensively.

Fact-checkers start from a link. Whatever a URL serves is untrusted: only
http and https, a capped number of redirects (each hop checked again), a
timeout, a size cap, and a user agent that names nuchter. A server that
fetches what it is told (``nuchter serve --allow-fetch``) refuses private,
loopback and link-local addresses, so a request cannot reach the machine's
own network; the CLI, which fetches for the person running it, allows them.

The HTTP client is urllib3, which trafilatura (the extractor) already uses.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from nuchter.errors import InputError
from nuchter.extract import HTML_TYPES

MAX_PAGE_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT_S = 15.0
TEXT_TYPES = ("text/plain", "text/markdown")


class FetchError(InputError):
    """A URL that could not be fetched, or that served nothing nuchter can score."""


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do; ``allow_private`` is off where a server fetches on others' behalf."""

    allow_private: bool = True
    max_bytes: int = MAX_PAGE_BYTES
    max_redirects: int = MAX_REDIRECTS
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class WebPage:
    """A fetched page: the URL asked for, where it ended after redirects, its title and main text."""

    url: str
    final_url: str
    title: str
    text: str


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("nuchter")
    except PackageNotFoundError:
        release = "dev"
    return f"nuchter/{release} (Dutch health-claim checker; fetches one page per request)"


def check_url(url: str) -> str:
    """The URL, stripped, if nuchter may fetch it at all (http or https with a host); else FetchError."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise FetchError(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{url}: only http:// and https:// URLs are fetched")
    if not parts.hostname:
        raise FetchError(f"{url}: no host name")
    if parts.username or parts.password:
        raise FetchError(f"{url}: URLs with a user name or password are not fetched")
    return url


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_host(url: str, policy: FetchPolicy) -> None:
    """Refuse a host that resolves to a private, loopback, link-local or reserved address, unless allowed.

    Every address the name resolves to must be public. (A name whose answer changes between this check
    and the connection can still slip through; a server that must rule that out belongs behind an
    egress proxy.)"""
    if policy.allow_private:
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{url}: cannot resolve {parts.hostname} ({exc})") from None
    if any(_refused_address(info[4][0]) for info in infos):
        raise FetchError(f"{url}: {parts.hostname} is a private, loopback or reserved address; not fetched")


def page_from_body(url: str, final_url: str, body: bytes, content_type: str) -> WebPage:
    """A response body → title and main text (HTML through trafilatura, plain text as it is); FetchError
    when there is no text to score."""
    from nuchter.extract import decode_response, html_to_text

    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and kind not in HTML_TYPES + TEXT_TYPES:
        raise FetchError(f"{url}: serves {kind}, not an HTML or text page")
    text = decode_response(body, content_type, url)
    page = WebPage(url, final_url, "", text) if kind in TEXT_TYPES else \
        WebPage(url, final_url, html_title(text), html_to_text(text))
    if not page.text.strip():
        raise FetchError(f"{url}: no main text found on the page")
    return page


def html_title(html: str) -> str:
    """The page's title as trafilatura reads it (og:title, <title>, the first heading)."""
    import logging

    from trafilatura.metadata import extract_metadata

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        metadata = extract_metadata(html)
    except Exception:  # metadata is a nicety; a page it chokes on is still scored
        return ""
    return " ".join((getattr(metadata, "title", None) or "").split())


def fetch(url: str, policy: FetchPolicy = FetchPolicy()) -> WebPage:
    """Fetch one page, following at most ``policy.max_redirects`` redirects, each checked as the first URL."""
    import urllib3

    requested = check_url(url)
    current = requested
    http = urllib3.PoolManager(headers={"User-Agent": user_agent(), "Accept": "text/html, text/plain;q=0.9"},
                               timeout=urllib3.Timeout(total=policy.timeout_s), retries=False)
    try:
        for _ in range(policy.max_redirects + 1):
            check_host(current, policy)
            try:
                response = http.request("GET", current, redirect=False, preload_content=False)
            except urllib3.exceptions.HTTPError as exc:
                raise FetchError(f"{requested}: {_reason(exc)}") from None
            try:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"{requested}: redirect ({response.status}) without a Location")
                    current = check_url(urljoin(current, location))
                    continue
                if response.status >= 400:
                    raise FetchError(f"{requested}: the server answered HTTP {response.status}")
                body = _read_capped(response, policy.max_bytes, requested)
                return page_from_body(requested, current, body, response.headers.get("Content-Type", ""))
            finally:
                response.release_conn()
        raise FetchError(f"{requested}: more than {policy.max_redirects} redirects")
    finally:
        http.clear()


def _read_capped(response, max_bytes: int, url: str) -> bytes:
    import urllib3

    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{url}: the page is {int(declared) // 1024} KB, over the {max_bytes // 1024} KB limit")
    chunks, size = [], 0
    try:
        for chunk in response.stream(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url}: the page is over the {max_bytes // 1024} KB limit")
            chunks.append(chunk)
    except urllib3.exceptions.HTTPError as exc:
        raise FetchError(f"{url}: {_reason(exc)}") from None
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    """urllib3's errors carry a long repr; say what happened in a few words (retries are off, so the
    error is the cause itself, not a MaxRetryError around it)."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return "cannot resolve the host name"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # before TimeoutError: urllib3 derives it from one
        return "cannot connect"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS error (certificate or protocol)"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    return f"cannot fetch ({type(exc).__name__})"


def read_url_list(path: Path) -> list[str]:
    """One URL a line; blank lines, lines starting with ``#`` and repeats are passed over."""
    from nuchter.extract import read_text_file

    urls = []
    for line in read_text_file(path).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(line)
    urls = list(dict.fromkeys(urls))
    if not urls:
        raise InputError(f"{path}: no URLs (one a line; # starts a comment)")
    return urls
