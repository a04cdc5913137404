"""Files → text. Files being scored are untrusted: decode defensively, never execute."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from nuchter.errors import InputError

MAX_FILE_BYTES = 50 * 1024 * 1024
HTML_SUFFIXES = (".html", ".htm")
HTML_TYPES = ("text/html", "application/xhtml+xml")
"""Content types of web pages whose main text is extracted (a fetched page, a WARC response)."""
TEXT_SUFFIXES = (".txt", ".md")
DOCUMENT_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
"""Control characters other than tab, newline, carriage return and form feed: copy-paste debris."""
_SURROGATES = re.compile("[\ud800-\udfff]")
BINARY_SHARE = 0.1
"""Text in which more than one character in ten is a control character is taken for binary data."""


def clean_text(text: str, name: str = "input") -> str:
    """Drop stray control characters (a NUL or escape from a copy-paste) so the rest can be scored.

    Lone surrogates become U+FFFD so the text can always be written out as
    UTF-8. Only text that is mostly not text is refused. The web page runs
    the same cleaning before it sends text, so offsets agree.

    >>> clean_text("Kurk\x00uma geneest\x1b alles.")
    'Kurkuma geneest alles.'
    """
    found = sum(1 for _ in _CONTROLS.finditer(text))
    if found > max(2, len(text) * BINARY_SHARE):
        raise InputError(f"{name} looks like binary data, not text")
    if found:
        text = _CONTROLS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


def decode(data: bytes, name: str = "input") -> str:
    """Bytes → text: BOMs first, then strict UTF-8, then Windows-1252 (Dutch Excel/Word files);
    stray control characters are dropped (:func:`clean_text`).

    charset detectors mistake Dutch cp1252 for cp1250 (``beïnvloedt`` →
    ``beďnvloedt``), so the candidates are fixed instead of guessed.

    >>> decode("beïnvloedt".encode("cp1252"))
    'beïnvloedt'
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise InputError(f"{name}: starts with a {encoding} byte-order mark but does not decode") from None
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                if b"\x00" in data[:8192]:
                    raise InputError(f"{name} looks like a binary file, not text") from None
                raise InputError(
                    f"{name} is neither UTF-8 nor Windows-1252 text; save it as UTF-8 and try again"
                ) from None
    try:
        return clean_text(text, name)
    except InputError:
        raise InputError(f"{name} looks like a binary file, not text") from None


def decode_response(body: bytes, content_type: str, name: str) -> str:
    """A web response's text: in the charset its Content-Type declares, else as a file is decoded
    (:func:`decode`: UTF-8, then Windows-1252)."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                charset = codecs.lookup(value.strip('"').strip()).name
            except LookupError:
                break
            return clean_text(body.decode(charset, errors="replace"), name)
    return decode(body, name)


def read_text_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a text file (folders are for `nuchter scan`)")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{path} is {size // 1_048_576} MB, over the {max_bytes // 1_048_576} MB limit")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return decode(data, str(path))


def html_to_text(html: str) -> str:
    """The main text of a saved page: no menus, cookie banners or footers.

    trafilatura works on the string it is given and never fetches what the
    page links to; ``fast=True`` skips its slower fallback extractors.
    """
    import logging

    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = trafilatura.extract(
        html, output_format="txt", include_comments=False, include_tables=True, include_links=False,
        include_images=False, fast=True,
    )
    return text or ""


def read_document(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A document's text for scoring: HTML reduced to its main text, other files as they are."""
    text = read_text_file(path, max_bytes=max_bytes)
    if path.suffix.lower() in HTML_SUFFIXES:
        return html_to_text(text)
    return text
