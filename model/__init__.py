"""nuchter: label Dutch health text as supported, hedged, overclaimed or promotional.

The Python API mirrors the CLI::

    from nuchter import load_classifier, score_text
    result = score_text("Kurkuma geneest ontstekingen.")  # the active model
    for sentence in result.sentences:
        print(sentence.label, sentence.confidence, sentence.text)

    classifier = load_classifier("path/to/model")  # load once, score many texts
    score_text("Vitamine D draagt bij aan sterke botten.", classifier)

Heavy libraries (torch, transformers) load only when a model is loaded.
"""

from nuchter.classify import load_classifier
from nuchter.config import ScoreConfig
from nuchter.errors import InputError, ModelError, NuchterError
from nuchter.labels import LABELS
from nuchter.pipeline import score_text
from nuchter.results import ScoreResult, SentenceScore, Skipped

__all__ = [
    "LABELS",
    "InputError",
    "ModelError",
    "NuchterError",
    "ScoreConfig",
    "ScoreResult",
    "SentenceScore",
    "Skipped",
    "load_classifier",
    "score_text",
]
