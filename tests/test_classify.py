"""Model loading rules and batched prediction, on the session's tiny model."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from nuchter.classify import Classifier, load_classifier, looks_local, resolve_model
from nuchter.cli.main import app
from nuchter.backends.modeldir import label_order
from nuchter.errors import ModelError
from nuchter.labels import LABELS


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return load_classifier(str(tiny_model), backend="torch")


def copy_model(tiny_model, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    return target


def test_predict_keeps_input_order_and_is_batch_independent(classifier):
    texts = ["Kort.", "Een veel langere zin over magnesium en slaap bij volwassenen.", "Middellange zin hier."]
    one_batch = classifier.predict(texts, batch_size=8)
    singles = [classifier.predict([t], batch_size=1)[0] for t in texts]
    for a, b in zip(one_batch, singles):
        assert list(a) == list(LABELS)
        assert abs(sum(a.values()) - 1) < 1e-5
        for label in LABELS:
            assert a[label] == pytest.approx(b[label], abs=1e-5)


def test_labels_come_from_config_not_code(tiny_model, tmp_path):
    """A model whose columns are in another order must be read in that order."""
    target = copy_model(tiny_model, tmp_path)
    config = json.loads((target / "config.json").read_text())
    reversed_labels = list(reversed(LABELS))
    config["id2label"] = {str(i): name for i, name in enumerate(reversed_labels)}
    config["label2id"] = {name: i for i, name in enumerate(reversed_labels)}
    (target / "config.json").write_text(json.dumps(config))
    assert load_classifier(str(target), backend="torch").labels == tuple(reversed_labels)


def test_dutch_aliases_in_id2label():
    assert label_order({0: "Onderbouwd", 1: "voorzichtig", 2: "OVERDREVEN", 3: "promotioneel"}) == list(LABELS)


@pytest.mark.parametrize(
    "id2label, message",
    [
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"}, "not nuchter's four labels"),
        ({0: "supported", 1: "hedged"}, "expected exactly"),
    ],
)
def test_foreign_label_sets_are_refused(id2label, message):
    with pytest.raises(ModelError, match=message):
        label_order(id2label)


def test_pickle_only_weights_are_refused(tiny_model, tmp_path):
    target = copy_model(tiny_model, tmp_path)
    (target / "model.safetensors").rename(target / "pytorch_model.bin")
    with pytest.raises(ModelError, match="safetensors only"):
        load_classifier(str(target))


def test_corrupt_weights_and_config(tiny_model, tmp_path):
    target = copy_model(tiny_model, tmp_path)
    (target / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot load model"):
        load_classifier(str(target))
    (target / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_classifier(str(target))


def test_active_model_is_used_when_none_is_given(tiny_model, isolated_store):
    with pytest.raises(ModelError, match="no active model"):
        resolve_model(None)
    (isolated_store / "models").mkdir(parents=True)
    shutil.copytree(tiny_model, isolated_store / "models" / "mijn-model")
    (isolated_store / "active").write_text("mijn-model\n")
    assert resolve_model(None) == str(isolated_store / "models" / "mijn-model")
    assert resolve_model("elders") == "elders"


def test_store_names_resolve_before_the_hub_and_a_mistyped_one_fails_at_once(tiny_model, isolated_store):
    """Issue 23: `--model retrain1` is what `nuchter models` lists, not a hub id."""
    (isolated_store / "models").mkdir(parents=True)
    shutil.copytree(tiny_model, isolated_store / "models" / "retrain1")
    assert resolve_model("retrain1") == str(isolated_store / "models" / "retrain1")
    assert load_classifier("retrain1").predict(["Magnesium geneest alles."])
    with pytest.raises(ModelError, match="did you mean retrain1"):
        resolve_model("retrain2")
    with pytest.raises(ModelError, match="not a hub id"):
        resolve_model("mijn model!")
    assert resolve_model("xlm-roberta-base") == "xlm-roberta-base"  # a bare hub id still is one
    runner = CliRunner()
    result = runner.invoke(app, ["score", "--model", "retrain2", "Kurkuma geneest alles."])
    assert result.exit_code == 1 and "did you mean retrain1" in result.output


def test_an_unreachable_hub_fails_at_once_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once, no real hub
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelError, match="cannot reach the model hub .* not in the local Hugging Face cache"):
        load_classifier("someone/some-model")


@pytest.mark.parametrize(
    "name, local",
    [("bert-base-multilingual-cased", False), ("DTAI-KULeuven/robbert-2023-dutch-base", False),
     ("./modellen/robbert", True), ("/opt/model", True), ("~/model", True), ("a/b/c", True)],
)
def test_hub_ids_and_paths(name, local):
    assert looks_local(name) is local


def test_backends(tiny_model, tmp_path):
    """auto serves transformer directories through ONNX Runtime; torch and onnx can be forced."""
    from nuchter.backends.onnx import OnnxClassifier

    target = copy_model(tiny_model, tmp_path)
    assert isinstance(load_classifier(str(target)), OnnxClassifier)
    assert isinstance(load_classifier(str(target), backend="torch"), Classifier)
    fp32 = load_classifier(str(target), backend="onnx", int8=False).predict(["Kurkuma geneest alles."])[0]
    torch_probs = load_classifier(str(target), backend="torch").predict(["Kurkuma geneest alles."])[0]
    assert all(abs(fp32[l] - torch_probs[l]) < 1e-4 for l in LABELS)
    with pytest.raises(ModelError, match="local model directory"):
        load_classifier("DTAI-KULeuven/robbert-2023-dutch-base", backend="onnx")
    with pytest.raises(ModelError, match="unknown backend"):
        load_classifier(str(target), backend="tensorrt")


def test_missing_tokenizer_is_refused(tiny_model, tmp_path):
    target = copy_model(tiny_model, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (target / name).unlink()
    with pytest.raises(ModelError, match="no tokenizer"):
        load_classifier(str(target))


def test_decomposed_accents_are_composed_before_tokenising(classifier):
    composed, decomposed = "De patiënten sliepen beter.", "De patie\u0308nten sliepen beter."
    a, b = classifier.predict([composed, decomposed])
    assert a == b


def test_export_command(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from nuchter.cli.main import app

    target = copy_model(tiny_model, tmp_path)
    shutil.rmtree(target / "onnx", ignore_errors=True)
    result = CliRunner().invoke(app, ["export", str(target)])
    assert result.exit_code == 0, result.output
    # one copy of each weight file: the full-precision graph was only the quantiser's input
    assert (target / "onnx" / "model.int8.onnx").is_file() and not (target / "onnx" / "model.onnx").exists()
    result = CliRunner().invoke(app, ["export", str(tmp_path / "geen")])
    assert result.exit_code == 1 and "not found" in result.stderr


def test_a_hub_id_with_the_hub_switched_off_fails_with_what_to_do(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1, as the README advises, gives the same clear error, not transformers' text."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelError, match="hub is switched off .* not in the local Hugging Face cache; pass a model folder"):
        load_classifier("retrain2")
