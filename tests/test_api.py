"""The Python API returns the objects the CLI prints."""

import pytest

from nuchter import InputError, ScoreConfig, score_text
from nuchter.classify import load_classifier


def test_score_text_with_path_and_loaded_classifier(tiny_model, seed_paragraph):
    by_path = score_text(seed_paragraph, model=str(tiny_model))
    loaded = load_classifier(str(tiny_model))
    by_object = score_text(seed_paragraph, model=loaded)
    assert [s.text for s in by_path.sentences] == [s.text for s in by_object.sentences]
    assert [s.label for s in by_path.sentences] == [s.label for s in by_object.sentences]
    assert by_path.model == str(tiny_model)
    for s in by_path.sentences:
        assert seed_paragraph[s.start : s.end] == s.text


def test_long_input_is_scored_in_batches(tiny_model):
    text = "Magnesium helpt soms bij kramp. " * 3000
    result = score_text(text, model=load_classifier(str(tiny_model)), config=ScoreConfig(batch_size=64))
    assert len(result.sentences) == 3000
    assert result.sentences[-1].index == 2999


def test_empty_text_is_an_input_error(tiny_model):
    with pytest.raises(InputError, match="empty"):
        score_text("  \n ", model=str(tiny_model))


def test_config_validates_itself():
    with pytest.raises(ValueError, match="batch_size"):
        ScoreConfig(batch_size=0)


def test_load_classifier_takes_builtin_names_and_none(builtin, monkeypatch):
    from nuchter import load_classifier, store

    fast = load_classifier("builtin-fast")
    assert type(fast).__name__ == "LinearClassifier" and fast.name == str(store.BUILTIN_FAST_DIR)
    assert load_classifier(None).name == str(store.active_model())  # the active model: the built-in one here
