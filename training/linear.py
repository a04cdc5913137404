"""The n-gram baseline the built-in model is measured against: TF-IDF over word
1–2-grams and character 2–5-grams with a class-weighted logistic regression."""

from __future__ import annotations

from model.labels import LABELS
from training.corpus import Example


def fit(train: list[Example], *, seed: int = 42, c: float = 4.0):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, lowercase=True),
    )
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    model = make_pipeline(features, classifier)
    model.fit([e.text for e in train], [LABELS.index(e.label) for e in train])
    return model


def evaluate(model, examples: list[Example]) -> dict:
    from training.metrics import compute

    predicted = model.predict([e.text for e in examples]).tolist()
    return compute(predicted, [LABELS.index(e.label) for e in examples])
