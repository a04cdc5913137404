"""Shared fixtures: a tiny BERT classifier built once per session, never a download."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach a model hub: fail fast instead of retrying for a minute.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "data" / "seeds"


def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch, request):
    """Every test gets an empty model store, never the user's, and no built-in
    model unless it asks for one with the `builtin` fixture."""
    from nuchter import store

    monkeypatch.setenv("NUCHTER_HOME", str(tmp_path / "nuchter-home"))
    if "builtin" not in request.fixturenames:
        monkeypatch.setattr(store, "BUILTIN_DIR", tmp_path / "no-builtin")
        monkeypatch.setattr(store, "BUILTIN_FAST_DIR", tmp_path / "no-builtin-fast")
    return tmp_path / "nuchter-home"


@pytest.fixture()
def builtin() -> Path:
    """The built-in model as shipped."""
    from nuchter import store

    assert store.builtin_available(), "model/builtin/ is missing: python -m nuchter.training.build_builtin"
    return store.BUILTIN_DIR


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained 2-layer BERT with a tokenizer trained on the seed texts."""
    from nuchter.training.scratch import build_small_model

    lines = [line for text in seed_texts() for line in text.splitlines() if line.strip()]
    return build_small_model(
        tmp_path_factory.mktemp("tiny-model"), lines, vocab_size=800, layers=2, hidden=32, heads=2
    )


@pytest.fixture(scope="session")
def seed_paragraph() -> str:
    return (
        "Psilocybine wordt in het lichaam omgezet in psilocine (Shao et al., 2021). "
        "Het bewijs is nog beperkt en verder onderzoek is nodig. "
        "Deze effecten zorgen ervoor dat lichaam en geest letterlijk 'resetten'. "
        "Wil je starten? Doe dan de intake bij ons!"
    )


@pytest.fixture(scope="session")
def tiny_linear(tmp_path_factory) -> Path:
    """A linear n-gram model fitted on two topic files of the corpus."""
    from nuchter.training import linear
    from nuchter.training.corpus import load_corpus

    original = ROOT / "data" / "original"
    corpus = load_corpus([original / "oa_sauna.jsonl", original / "oc_keto.jsonl"])
    return linear.save(linear.fit(corpus.examples[:250]), tmp_path_factory.mktemp("linear"), c=4.0)
