"""The n-gram linear model: TF-IDF over word 1–2-grams and character 2–5-grams
with a class-weighted logistic regression. Fitted with scikit-learn, saved
without pickle for ``model/backends/linear.py`` to serve."""

from __future__ import annotations

import json
from pathlib import Path

from nuchter.labels import LABEL2ID, LABELS
from nuchter.backends.linear import MODEL_TYPE
from nuchter.training.corpus import Example

FEATURES = (
    {"analyzer": "word", "ngram_range": (1, 2), "min_df": 1, "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True},
)


def fit(train: list[Example], *, seed: int = 42, c: float = 4.0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(*(TfidfVectorizer(lowercase=True, **spec) for spec in FEATURES))
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
    model = make_pipeline(features, classifier)
    model.fit([e.text for e in train], [LABELS.index(e.label) for e in train])
    return model


def evaluate(model, examples: list[Example]) -> dict:
    from nuchter.training.metrics import compute

    predicted = model.predict([e.text for e in examples]).tolist()
    return compute(predicted, [LABELS.index(e.label) for e in examples])


def save(model, directory: Path, *, c: float) -> Path:
    """Write config.json, vocabulary.json and model.safetensors (float32)."""
    import numpy as np
    from safetensors.numpy import save_file

    union, classifier = model.steps[0][1], model.steps[1][1]
    vectorizers = [v for _, v in union.transformer_list]
    vocabularies = [{gram: int(i) for gram, i in v.vocabulary_.items()} for v in vectorizers]
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "model_type": MODEL_TYPE,
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "label2id": LABEL2ID,
        "features": [{**spec, "ngram_range": list(spec["ngram_range"])} for spec in FEATURES],
        "C": c,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (directory / "vocabulary.json").write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
    # C order: safetensors writes the raw buffer, and coef_ can be Fortran-ordered.
    tensors = {f"idf_{i}": np.ascontiguousarray(v.idf_, dtype=np.float32) for i, v in enumerate(vectorizers)}
    tensors["coef"] = np.ascontiguousarray(classifier.coef_, dtype=np.float32)
    tensors["intercept"] = np.ascontiguousarray(classifier.intercept_, dtype=np.float32)
    save_file(tensors, str(directory / "model.safetensors"))
    return directory
