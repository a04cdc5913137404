"""nuchter: label Dutch health text as supported, hedged, overclaimed or promotional.

The Python API mirrors the CLI::

    from model import score_text
    result = score_text("Kurkuma geneest ontstekingen.", model="path/to/model")
    for sentence in result.sentences:
        print(sentence.label, sentence.confidence, sentence.text)

Heavy libraries (torch, transformers) load only when a model is loaded.
"""

from model.config import ScoreConfig
from model.errors import InputError, ModelError, NuchterError
from model.labels import LABELS
from model.pipeline import score_text
from model.results import ScoreResult, SentenceScore, Skipped

__all__ = [
    "LABELS",
    "InputError",
    "ModelError",
    "NuchterError",
    "ScoreConfig",
    "ScoreResult",
    "SentenceScore",
    "Skipped",
    "score_text",
]
