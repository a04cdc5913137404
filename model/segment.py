"""Text → sentences with character offsets, and page furniture set aside.

pysbd does the sentence splitting; the rules here only cover what it gets
wrong for Dutch web text (each has a golden test): line structure
(headings, bullets, hard-wrapped lines), abbreviations followed by a capital,
and furniture the labelling guide says not to score.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

SENTENCE = "sentence"
HEADING = "heading"
FURNITURE = "furniture"
REFERENCE = "reference"
URL = "url"


@dataclass(frozen=True)
class Segment:
    """A span of the input; ``text == source[start:end]``."""

    start: int
    end: int
    text: str
    kind: str = SENTENCE  # SENTENCE, or why the span is not scored


# Abbreviations that never end a Dutch sentence; pysbd splits after them
# when a capital follows ("Dr. | Jansen", "et al. | Toonden").
NON_FINAL_ABBREVIATIONS = (
    "dr.", "drs.", "prof.", "ir.", "ing.", "mr.", "dhr.", "mevr.", "st.",
    "et al.", "bijv.", "bv.", "b.v.", "o.a.", "d.w.z.", "ca.", "circa.",
    "m.b.t.", "t.o.v.", "i.p.v.", "i.c.m.", "m.n.", "incl.", "excl.",
    "resp.", "vs.", "evt.", "zgn.", "nr.", "blz.", "fig.", "vgl.", "vnl.",
    "a.d.h.v.", "o.b.v.", "e.g.", "i.e.",
)
_ABBREV_END = re.compile(
    r"(?:^|[\s(\[])(?:" + "|".join(re.escape(a) for a in NON_FINAL_ABBREVIATIONS) + r")$",
    re.IGNORECASE,
)
_LETTER_STOP = re.compile(r"(?<![\w.])[A-Z]\.\s+(?=[A-ZÀ-Ý])")
"""A capital letter with a stop before another capital: an initial ("J. Jansen") or a letter that
ends a sentence ("vitamine D. Deze"), which pysbd always reads as an initial."""
LETTER_NAMES = frozenset((
    "vitamine", "vitamines", "type", "groep", "bloedgroep", "hepatitis", "fase", "klasse", "categorie",
    "stadium", "niveau", "optie", "variant", "plan", "schema", "blok", "bijlage", "punt", "kolom", "rij",
    "zone", "lijst", "kant", "pakket", "formule", "maat",
))
"""Nouns that a letter names ("vitamine D", "hepatitis B", "plan B"): a stop after that letter ends
the sentence, since no name follows them."""
SENTENCE_STARTS = frozenset((
    "de", "het", "een", "deze", "dit", "dat", "die", "ik", "je", "jij", "u", "uw", "we", "wij", "ze",
    "zij", "hij", "men", "er", "ook", "maar", "en", "want", "dus", "daarom", "daarna", "daardoor",
    "daarnaast", "toch", "zo", "nu", "dan", "als", "wanneer", "omdat", "hoewel", "bij", "in", "op",
    "met", "voor", "na", "om", "tijdens", "zonder", "wat", "hoe", "waarom", "wie", "welke", "waar",
    "niet", "geen", "veel", "vaak", "soms", "meer", "alle", "elke", "iedere", "onze", "ons", "mijn",
    "jouw", "hun", "bovendien", "verder", "tot", "sinds", "zelfs", "helaas", "gelukkig",
))
"""Function words that open a Dutch sentence and never a surname; "De" and "Van" count only when a
lower-case word follows ("J. De Smet" is a name)."""
_TITLE_BEFORE = re.compile(r"(?:^|\s)(?:[A-Z]\.|" + "|".join(re.escape(a) for a in NON_FINAL_ABBREVIATIONS) + r")\s*$", re.IGNORECASE)
_CLOSERS = "\"'”’»)]"
_TERMINAL = ".!?…"
_BULLET = re.compile(r"^(?:[-*•–·▪]|\d{1,3}[.)]|\[\d{1,3}\])\s+")
_URL_ONLY = re.compile(r"^(?:<)?(?:https?://|www\.)\S+(?:>)?$", re.IGNORECASE)
_REFERENCE_HEADING = re.compile(
    r"^(?:referenties|referentielijst|bronnen|bronvermelding|literatuur|"
    r"literatuurlijst|references|bibliografie|voetnoten|noten)\s*:?$",
    re.IGNORECASE,
)
_AUTHOR_START = re.compile(r"^[A-ZÀ-Ý][\w'’-]+(?:\s[A-ZÀ-Ý][\w'’-]+)*,?\s(?:[A-Z]{1,3}|[A-Z]\.(?:\s?[A-Z]\.)*)[,.\s]")
_CITATION_DETAIL = re.compile(
    r"doi[:.]|doi\.org|\b(?:19|20)\d{2};\s*\d|\b\d+\(\d+\):\s*\d|\b(?:19|20)\d{2}\)?[.;,]\s*\d+[-–:]|\bvol\.\s*\d|\bpp\.\s*\d",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")
_INTERNAL_BOUNDARY = re.compile(r"[.!?…][\"'”’)]*\s+\S")

MAX_HEADING_WORDS = 12
MIN_WRAPPED_LINE = 25
USE_FAST_PATH = True  # tests switch it off to compare with pysbd alone
CHUNK_CHARS = 3000
_SAFE_CUT = re.compile(r"[.!?…][\"'”’)]*\s+(?=[A-ZÀ-Ý\"“‘(])")


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    # pysbd compiles one regex per Dutch abbreviation (~1,700) on every call;
    # with Python's default cache of 512 patterns each call recompiles them all.
    if getattr(re, "_MAXCACHE", 4096) < 4096:
        re._MAXCACHE = 4096

    return pysbd.Segmenter(language="nl", clean=False)


def _ends_sentence(line: str) -> bool:
    stripped = line.rstrip(_CLOSERS + " ")
    if not stripped:
        return False
    last = stripped[-1]
    return last in _TERMINAL or unicodedata.category(last) == "So"  # emoji end forum lines


def is_reference(line: str) -> bool:
    """A bibliography entry such as ``Nichols DE. Psychedelics. 2016;68(2):264-355.``"""
    body = _BULLET.sub("", line, count=1)
    if re.match(r"^(?:https?://|doi:)", body, re.IGNORECASE):
        return True
    return bool(_AUTHOR_START.match(body) and _CITATION_DETAIL.search(body))


def _line_kind(line: str, *, alone: bool = False) -> str:
    """How a whole stripped line is treated before sentence splitting.

    A text of one line is running text: a pasted claim without a final stop
    is still a sentence, not a heading.
    """
    if _URL_ONLY.match(line):
        return URL
    if is_reference(line):
        return REFERENCE
    if not _LETTER.search(line):
        return FURNITURE
    if _BULLET.match(line):
        return "bullet"
    words = len(line.split())
    if not alone and not _ends_sentence(line) and not _INTERNAL_BOUNDARY.search(line):
        if words <= 2:
            return FURNITURE
        if words <= MAX_HEADING_WORDS or line.isupper():
            return HEADING
    return SENTENCE


def _continues(line: str, following: str) -> bool:
    """Whether a line break falls inside a sentence (hard-wrapped text)."""
    if _ends_sentence(line) or line.endswith(":") or _BULLET.match(following):
        return False
    if line[-1] in ",-–(":
        return True
    # Wrapped lines are long; short lowercase lines are forum posts or menus.
    return following[0].islower() and len(line) >= MIN_WRAPPED_LINE


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of each line's content with surrounding whitespace removed; (-1, -1) for a blank line."""
    pos = 0
    for raw in text.splitlines(keepends=True):
        content = raw.strip()
        if content:
            start = pos + raw.index(content[0])
            yield start, start + len(content)
        else:
            yield -1, -1
        pos += len(raw)


_CANDIDATE = re.compile(r"(?:\.|[!?]+|…)[\"'”’)\]]*\s+(?=[\"“‘(]?[A-ZÀ-Ý])")
_TERMINATORS = re.compile(r"(?<!\d)\.|\.(?!\d)|[!?]+|…")  # not the stop inside 1.150 or 22.00
_WORD_BEFORE = re.compile(r"([^\W\d_][\w-]*)[\"'”’]*(?:\.|[!?]+|…)$")


@lru_cache(maxsize=1)
def _pysbd_abbreviations() -> frozenset[str]:
    from pysbd.lang.dutch import Dutch

    return frozenset(a.lower() for a in Dutch.Abbreviation.ABBREVIATIONS)


def _regions(flat: str) -> list[tuple[int, int, bool]]:
    """Cut at unambiguous boundaries; flag the regions that still need pysbd.

    pysbd costs about 4 ms per sentence (it runs a regex per known
    abbreviation over the whole string). Most web prose has only clear
    boundaries ("word. Capital"), which a regex finds at a fraction of the
    cost; only a region holding an ambiguous stop (abbreviations, initials,
    numbers, ellipses, a stop before lowercase) goes to pysbd, and pysbd then
    sees that region alone. A test holds the result to pysbd's on the corpus.
    """
    if not USE_FAST_PATH:
        return [(0, len(flat), True)]
    cuts, unsafe = [], []
    for match in _CANDIDATE.finditer(flat):
        # a bounded window: searching from 0 for each stop would be quadratic in long lines
        before = _WORD_BEFORE.search(flat, max(0, match.start() - 64), match.start() + 1)
        if flat[match.start() - 1 : match.start()] == ")":
            cuts.append(match)  # a citation "(Shao et al., 2021). Een" ends a sentence
        elif before is None or len(before.group(1)) < 2 or before.group(1).lower() in _pysbd_abbreviations():
            unsafe.append(match.start())
        else:
            cuts.append(match)
    boundary_stops = {m.start() for m in cuts}
    tail = len(flat.rstrip(_CLOSERS + " \t"))
    unsafe += [m.start() for m in _TERMINATORS.finditer(flat) if m.start() not in boundary_stops and m.end() != tail]
    unsafe.sort()
    regions, begin = [], 0
    for match in cuts:
        first = bisect.bisect_left(unsafe, begin)
        regions.append((begin, match.end(), first < len(unsafe) and unsafe[first] < match.start()))
        begin = match.end()
    regions.append((begin, len(flat), bisect.bisect_left(unsafe, begin) < len(unsafe)))
    return regions


def _pysbd_pieces(flat: str, begin: int, end: int) -> list[tuple[int, int]]:
    pieces = []
    for chunk_start, chunk_end in _chunks(flat[begin:end]):
        chunk_start, chunk_end = begin + chunk_start, begin + chunk_end
        chunk = flat[chunk_start:chunk_end]
        cursor = 0
        found: list[tuple[int, int]] = []
        for piece in _segmenter().segment(chunk):
            core = piece.strip()
            if not core:
                continue
            at = chunk.find(core, cursor)
            if at < 0:  # pysbd altered the text; keep the chunk as one unit
                stripped = chunk.strip()
                found = [(chunk.index(stripped), chunk.index(stripped) + len(stripped))]
                break
            found.append((at, at + len(core)))
            cursor = at + len(core)
        pieces.extend((chunk_start + a, chunk_start + b) for a, b in _split_exclamation_runs(chunk, found))
    return pieces


_EXCLAMATION_RUN = re.compile(r"[!?]{2,}[\"'”’)]*\s+(?=[\"“‘(]?[A-ZÀ-Ý])")


def _split_exclamation_runs(text: str, pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """pysbd keeps "niet!!! Echt?" together; forum text is full of them."""
    out = []
    for start, end in pieces:
        for match in _EXCLAMATION_RUN.finditer(text, start, end):
            stop = text.rindex(text[match.start():match.end()].rstrip()[-1], match.start(), match.end()) + 1
            out.append((start, stop))
            start = match.end()
        out.append((start, end))
    return out


def _chunks(flat: str) -> Iterator[tuple[int, int]]:
    """Cut very long blocks at likely sentence ends: pysbd slows down
    quadratically on long strings (100 kB in one line takes half a minute)."""
    begin = 0
    while len(flat) - begin > CHUNK_CHARS:
        window = flat[begin : begin + CHUNK_CHARS]
        cuts = [m.end() for m in _SAFE_CUT.finditer(window)]
        cut = cuts[-1] if cuts else (window.rfind(" ") + 1 or CHUNK_CHARS)
        yield begin, begin + cut
        begin += cut
    yield begin, len(flat)


def _split(text: str, start: int, end: int) -> Iterator[Segment]:
    """pysbd over one block, then merge pieces that end in a non-final abbreviation."""
    block = text[start:end]
    flat = block.replace("\r", " ").replace("\n", " ")  # same length: offsets survive
    pieces: list[tuple[int, int]] = []
    for begin, end, ambiguous in _regions(flat):
        if ambiguous:
            pieces += _pysbd_pieces(flat, begin, end)
        elif core := flat[begin:end].strip():
            at = flat.index(core[0], begin)
            pieces.append((at, at + len(core)))
    merged: list[tuple[int, int]] = []
    for piece_start, piece_end in pieces:
        lone_closer = not flat[piece_start:piece_end].strip(_CLOSERS + "'\"")
        if merged and (lone_closer or _ABBREV_END.search(flat[merged[-1][0]:merged[-1][1]])):
            merged[-1] = (merged[-1][0], piece_end)
        else:
            merged.append((piece_start, piece_end))
    merged = [cut for piece in merged for cut in _split_letter_stops(flat, *piece)]
    for piece_start, piece_end in merged:
        s, e = start + piece_start, start + piece_end
        sentence = text[s:e]
        if _URL_ONLY.match(sentence):
            kind = URL
        elif not _LETTER.search(sentence):
            kind = FURNITURE
        else:
            kind = SENTENCE
        yield Segment(s, e, sentence, kind)


def ends_at_letter(before: str, after: str) -> bool:
    """Does "<before> X. <after>" end a sentence after the letter X?

    >>> ends_at_letter("Slik elke dag vitamine", "Deze pillen werken.")
    True
    >>> ends_at_letter("Volgens dr.", "de Vries werkt het.") or ends_at_letter("Volgens", "De Smet werkt het.")
    False
    """
    words = before.split()
    if not words or _TITLE_BEFORE.search(before):  # "J." at the start, "dr. A.", "J. W."
        return False
    if words[-1].lower().strip("(\"'“‘") in LETTER_NAMES:
        return True
    following = after.split()
    first = following[0].strip(",;:") if following else ""
    if first.lower() not in SENTENCE_STARTS:
        return False
    if first in ("De", "Den", "Van") and len(following) > 1 and following[1][:1].isupper():
        return False
    return True


def _split_letter_stops(flat: str, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for match in _LETTER_STOP.finditer(flat, start, end):
        if ends_at_letter(flat[start : match.start()], flat[match.end() : end]):
            out.append((start, match.start() + 2))
            start = match.end()
    out.append((start, end))
    return out


def segment(text: str) -> Iterator[Segment]:
    """Split Dutch text into sentences and skipped spans, in document order.

    >>> [s.text for s in segment("Zie o.a. Dr. Jansen. Het werkt!") ]
    ['Zie o.a. Dr. Jansen.', 'Het werkt!']
    """
    lines = list(_lines(text))
    alone = sum(1 for start, _ in lines if start >= 0) == 1
    in_references = False
    i = 0
    while i < len(lines):
        start, end = lines[i]
        if start < 0:
            i += 1
            continue
        line = text[start:end]
        kind = _line_kind(line, alone=alone)
        if kind in (HEADING, FURNITURE) and i + 1 < len(lines) and lines[i + 1][0] >= 0:
            if _continues(line, text[lines[i + 1][0]:lines[i + 1][1]]):
                kind = SENTENCE  # first line of a hard-wrapped paragraph
        if in_references and (kind in (REFERENCE, URL, "bullet") or _BULLET.match(line)):
            yield Segment(start, end, line, REFERENCE)
            i += 1
            continue
        in_references = False
        if _REFERENCE_HEADING.match(line):
            in_references = True
            yield Segment(start, end, line, HEADING)
            i += 1
            continue
        if kind in (URL, REFERENCE, FURNITURE):
            yield Segment(start, end, line, kind)
            i += 1
            continue
        if kind == HEADING:
            yield Segment(start, end, line, HEADING)
            i += 1
            continue
        if kind == "bullet":
            marker = _BULLET.match(line)
            content_start = start + marker.end()
            words = len(text[content_start:end].split())
            if words <= 2 and not _ends_sentence(line):
                yield Segment(start, end, line, FURNITURE)
            else:
                yield from _split(text, content_start, end)
            i += 1
            continue
        # A paragraph: join following lines while the sentence runs on.
        block_end = end
        j = i + 1
        while j < len(lines) and lines[j][0] >= 0:
            following = text[lines[j][0]:lines[j][1]]
            if not _continues(text[lines[j - 1][0]:lines[j - 1][1]], following):
                break
            block_end = lines[j][1]
            j += 1
        yield from _split(text, start, block_end)
        i = j


def segment_lines(text: str) -> Iterator[Segment]:
    """One unit per non-blank line, for input that is already split (``--lines``)."""
    for start, end in _lines(text):
        if start >= 0:
            yield Segment(start, end, text[start:end])
