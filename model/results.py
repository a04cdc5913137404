"""Result objects shared by the Python API, the reports and the CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from nuchter.labels import FLAGGED, LABELS


@dataclass(frozen=True)
class Evidence:
    """A span of the input text (``source_text[start:end] == text``) that pushed a sentence towards its label."""

    start: int
    end: int
    text: str
    weight: float
    """How much the label's probability drops when the span is left out."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SentenceScore:
    """One scored sentence; ``source_text[start:end] == text``."""

    index: int
    start: int
    end: int
    text: str
    label: str
    confidence: float
    scores: dict[str, float]
    evidence: tuple[Evidence, ...] | None = None
    """Filled only when an explanation was asked for (``--explain``), strongest first."""

    @classmethod
    def from_dict(cls, row: dict) -> "SentenceScore":
        """The inverse of :meth:`to_dict` (a `scan --out` row); KeyError, TypeError or ValueError when it is not one."""
        return cls(int(row["index"]), int(row["start"]), int(row["end"]), str(row["text"]), str(row["label"]),
                   float(row["confidence"]), {str(k): float(v) for k, v in row["scores"].items()})

    def to_dict(self) -> dict:
        # by hand, not dataclasses.asdict: it deep-copies, and scan writes one of these per sentence
        out = {"index": self.index, "start": self.start, "end": self.end, "text": self.text,
               "label": self.label, "confidence": self.confidence, "scores": dict(self.scores)}
        if self.evidence is not None:
            out["evidence"] = [e.to_dict() for e in self.evidence]
        return out


@dataclass(frozen=True)
class Skipped:
    """A span that was not scored (heading, reference entry, URL, page furniture)."""

    start: int
    end: int
    text: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(sentences: Iterable[SentenceScore]) -> dict:
    """Counts per label and the share of sentences that go too far."""
    counts = Counter(s.label for s in sentences)
    total = sum(counts.values())
    flagged = sum(counts[label] for label in FLAGGED)
    return {
        "sentences": total,
        "counts": {label: counts.get(label, 0) for label in LABELS},
        "flagged": flagged,
        "flagged_share": round(flagged / total, 4) if total else 0.0,
    }


@dataclass(frozen=True)
class Source:
    """Where a page came from when it was fetched: the URL asked for and the page's title."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class ScoreResult:
    model: str
    sentences: tuple[SentenceScore, ...]
    skipped: tuple[Skipped, ...] = ()
    source: Source | None = None

    @property
    def summary(self) -> dict:
        return summarise(self.sentences)

    def to_dict(self) -> dict:
        return {
            **({"url": self.source.url, "title": self.source.title} if self.source else {}),
            "model": self.model,
            "sentences": [s.to_dict() for s in self.sentences],
            "skipped": [s.to_dict() for s in self.skipped],
            "summary": self.summary,
        }


@dataclass(frozen=True)
class DocumentResult:
    """One scored document of a scan: where it came from, its text and its scores."""

    path: str
    text: str
    result: ScoreResult

    def summary_row(self) -> dict:
        """The per-document line of scan reports."""
        summary = self.result.summary
        flagged = [s for s in self.result.sentences if s.label in FLAGGED]
        top = max(flagged, key=lambda s: s.confidence, default=None)
        return {
            "path": self.path,
            "title": self.result.source.title if self.result.source else "",
            "sentences": summary["sentences"],
            **{label: summary["counts"][label] for label in LABELS},
            "flagged_share": summary["flagged_share"],
            "most_flagged": top.text if top else "",
            "most_flagged_label": top.label if top else "",
            "most_flagged_confidence": top.confidence if top else None,
        }


@dataclass(frozen=True)
class SkippedFile:
    """A file a scan did not score, and why (binary, too large, unreadable, broken link…)."""

    path: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)
