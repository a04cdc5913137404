"""Training end to end on tiny models: written, loadable, evaluated, safely installed."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nuchter import score_text, store
from nuchter.cli.main import app
from nuchter.config import ScoreConfig
from nuchter.errors import NuchterError
from nuchter.labels import LABELS
from nuchter.training.config import TrainConfig
from nuchter.training.corpus import load_corpus
from nuchter.training.train import train

runner = CliRunner()
TINY = dict(base_model="scratch", scratch_vocab_size=600, scratch_layers=1, scratch_hidden=32,
            scratch_heads=2, max_length=48, batch_size=16, learning_rate=3e-3, early_stopping_patience=0,
            export_onnx=False)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """About 40 documents of the real corpus, with every split present."""
    corpus = load_corpus([Path(__file__).resolve().parent.parent / "data" / "original"])
    chosen, seen = [], {"train": 0, "dev": 0, "test": 0}
    for doc_id in dict.fromkeys(e.doc_id for e in corpus.examples):
        rows = [e for e in corpus.examples if e.doc_id == doc_id]
        split = rows[0].split
        if seen[split] < {"train": 30, "dev": 5, "test": 5}[split]:
            seen[split] += 1
            chosen += rows
        if sum(seen.values()) == 40:
            break
    folder = tmp_path_factory.mktemp("small-data")
    with open(folder / "rows.jsonl", "w", encoding="utf-8") as handle:
        for e in chosen:
            handle.write(json.dumps({"text": e.text, "label": e.label, "doc_id": e.doc_id}, ensure_ascii=False) + "\n")
    return folder


@pytest.fixture()
def config_file(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_train_writes_a_complete_model_and_scores_with_it(small_data, tmp_path):
    out = train(TrainConfig(**TINY, max_steps=6), [small_data], output=tmp_path / "m", progress=False, log=lambda m: None)
    assert not out.activated and out.path == tmp_path / "m"
    names = {p.name for p in out.path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "training_config.json", "metrics.json", "README.md"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    assert not (tmp_path / "m.partial").exists()
    metrics = json.loads((out.path / "metrics.json").read_text())
    for split in ("dev", "test"):
        assert 0 <= metrics[split]["macro_f1"] <= 1
        assert set(metrics[split]["per_label"]) == set(LABELS)
        matrix = metrics[split]["confusion_matrix"]["rows_gold_columns_predicted"]
        assert sum(map(sum, matrix)) == sum(metrics["data"]["counts"][split].values())
    assert metrics["base_model"] == "scratch" and metrics["seed"] == 42 and metrics["duration_s"] > 0
    assert json.loads((out.path / "training_config.json").read_text())["max_steps"] == 6
    card = (out.path / "README.md").read_text()
    assert card.startswith("---\nlanguage: nl") and "macro-F1" in card
    config = json.loads((out.path / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(4)] == list(LABELS)
    result = score_text("Kurkuma geneest alles. Het bewijs is beperkt.", model=str(out.path))
    assert [s.label in LABELS for s in result.sentences] == [True, True]


def test_interrupted_training_leaves_the_active_model_intact_and_resumes(small_data, isolated_store, monkeypatch):
    quiet = dict(progress=False, log=lambda m: None)
    train(TrainConfig(**TINY, max_steps=2), [small_data], name="eerste", force=True, **quiet)
    weights = (isolated_store / "models" / "eerste" / "model.safetensors").read_bytes()

    import transformers

    original_step = transformers.Trainer.training_step
    calls = {"n": 0}

    def interrupting_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", interrupting_step)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**TINY, max_steps=6), [small_data], name="tweede", **quiet)
    assert store.active_name() == "eerste"
    assert (isolated_store / "models" / "eerste" / "model.safetensors").read_bytes() == weights
    assert not (isolated_store / "models" / "tweede").exists()
    assert list((isolated_store / "models" / "tweede.partial" / "checkpoints").glob("checkpoint-*"))

    monkeypatch.setattr(transformers.Trainer, "training_step", original_step)
    resumed = train(TrainConfig(**TINY, max_steps=6), [small_data], name="tweede", resume=True, force=True, **quiet)
    assert resumed.path.is_dir() and not (isolated_store / "models" / "tweede.partial").exists()
    assert store.active_name() == "tweede"


def test_an_early_ctrl_c_says_nothing_was_saved_and_a_later_one_offers_resume(small_data, config_file, monkeypatch):
    """Issue 23: the --resume hint only when a checkpoint exists."""
    import transformers

    original_step = transformers.Trainer.training_step
    calls = {"n": 0, "stop_at": 1}

    def interrupting_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", interrupting_step)
    args = ["train", "--data", str(small_data), "--config", str(config_file), "--max-steps", "6", "--name", "vroeg"]
    early = runner.invoke(app, args)
    assert early.exit_code == 130 and "nothing was saved yet" in early.stderr and "--resume" not in early.stderr
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 1 and "nothing to resume" in resumed.stderr  # as the message said
    calls.update(n=0, stop_at=5)  # past the first checkpoint (every 3 steps at --max-steps 6)
    late = runner.invoke(app, args)
    assert late.exit_code == 130 and "plus --resume" in late.stderr


def test_the_corpus_seed_pages_are_skipped_unless_asked_for(small_data, config_file, tmp_path):
    """Issue 23: `--data data/` used to train on the seed pages the built-in model is measured on."""
    import shutil

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copytree(small_data, folder / "documenten")
    shutil.copy(Path(__file__).resolve().parent.parent / "data" / "seeds.jsonl", folder / "seeds.jsonl")
    args = ["train", "--data", str(folder), "--config", str(config_file), "--max-steps", "2", "--force"]
    plain = runner.invoke(app, [*args, "--name", "zonder"])
    assert plain.exit_code == 0, plain.output
    assert "seeds.jsonl: skipped: held out" in plain.stderr and "seeds.jsonl: 250 new" not in plain.stderr
    asked = runner.invoke(app, [*args, "--name", "met", "--include-held-out"])
    assert asked.exit_code == 0, asked.output
    assert "skipped: held out" not in asked.stderr and "seeds.jsonl: 250 new sentences" in asked.stderr


def test_cli_train_evaluate_models(small_data, config_file, tmp_path, isolated_store):
    extra = tmp_path / "nieuw.csv"
    extra.write_bytes("tekst;label\nDeze zalf geneest elke vorm van eczeem binnen een week;overdreven\n".encode("cp1252"))
    result = runner.invoke(app, ["train", "--data", str(small_data), "--data", str(extra),
                                 "--config", str(config_file), "--max-steps", "4", "--name", "cli", "--force"])
    assert result.exit_code == 0, result.output
    assert "installed and activated cli because of --force, although:" in result.stdout
    assert "nieuw.csv: 1 new sentences" in result.stderr
    listing = runner.invoke(app, ["models"])
    assert "* cli" in listing.stdout and "test macro-F1" in listing.stdout

    errors = tmp_path / "fouten.csv"
    evaluation = runner.invoke(app, ["evaluate", "--data", str(small_data), "--split", "test",
                                     "--format", "json", "--errors", str(errors)])
    assert evaluation.exit_code == 0, evaluation.output
    metrics = json.loads(evaluation.stdout)
    assert metrics["split"] == "test" and set(metrics["per_label"]) == set(LABELS)
    wrong = errors.read_text(encoding="utf-8").splitlines()
    assert wrong[0] == "where,doc_id,text,gold,predicted,confidence"
    assert len(wrong) - 1 == metrics["sentences"] - round(metrics["accuracy"] * metrics["sentences"])

    table = runner.invoke(app, ["evaluate", "--data", str(small_data)])
    assert "macro-F1" in table.stdout and "confusion" in table.stdout


def test_cli_train_refuses_bad_data_and_settings(tmp_path, config_file):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nEen zin.,overclaim\nEen zin.,supported\n")
    result = runner.invoke(app, ["train", "--data", str(bad), "--config", str(config_file)])
    assert result.exit_code == 1 and f"{bad}:2" in result.stderr and "did you mean 'overclaimed'" in result.stderr
    conflict = tmp_path / "conflict.csv"
    conflict.write_text("text,label\nEen zin.,hedged\nEen zin.,supported\n")
    result = runner.invoke(app, ["train", "--data", str(conflict)])
    assert result.exit_code == 1 and "conflicting labels" in result.stderr
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"learnin_rate": 1e-3}))
    result = runner.invoke(app, ["train", "--data", str(bad), "--config", str(typo)])
    assert result.exit_code == 1 and "did you mean 'learning_rate'" in result.stderr
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "not found" in result.stderr


def test_models_use_unknown_name():
    result = runner.invoke(app, ["models", "use", "bestaat-niet"])
    assert result.exit_code == 1 and "no installed model named" in result.stderr


def test_fine_tunes_a_local_base_model(small_data, tiny_model, tmp_path):
    """The default recipe's path: a pretrained encoder from a local folder, fine-tuned."""
    config = TrainConfig(base_model=str(tiny_model), max_steps=2, batch_size=8, max_length=32, early_stopping_patience=0)
    out = train(config, [small_data], output=tmp_path / "ft", progress=False, log=lambda m: None)
    metrics = json.loads((out.path / "metrics.json").read_text())
    assert metrics["base_model"] == str(tiny_model)
    assert f"base_model: {tiny_model}" in (out.path / "README.md").read_text()
    # issue 23: the int8 graph is exported at the end of training, so the first use does not wait for it
    assert (out.path / "onnx" / "model.int8.onnx").is_file() and not (out.path / "onnx" / "model.onnx").exists()
    exported = (out.path / "onnx" / "model.int8.onnx").stat().st_mtime_ns
    result = score_text("Magnesium helpt soms bij kramp.", model=str(out.path))
    assert result.sentences[0].label in LABELS
    assert (out.path / "onnx" / "model.int8.onnx").stat().st_mtime_ns == exported  # served as it was, not again


def test_missing_local_base_model(small_data, tmp_path):
    with pytest.raises(Exception, match="base model directory not found"):
        train(TrainConfig(base_model=str(tmp_path / "geen-model"), max_steps=1), [small_data],
              output=tmp_path / "x", progress=False, log=lambda m: None)


def test_a_base_model_that_fails_to_load_leaves_no_partial_folder(small_data, isolated_store):
    with pytest.raises(Exception, match="cannot load base model"):
        train(TrainConfig(base_model="geen-org/geen-model", max_steps=1), [small_data], name="mislukt",
              progress=False, log=lambda m: None)
    assert not (isolated_store / "models" / "mislukt.partial").exists()


def test_a_distilled_student_keeps_fewer_layers_and_a_shorter_context(small_data, tiny_model, tiny_linear, tmp_path):
    """The built-in recipe's knobs: top layers dropped, neighbours shortened, a teacher's soft targets."""
    from nuchter.classify import load_classifier

    messages = []
    common = dict(base_model=str(tiny_model), max_steps=6, learning_rate=3e-3, batch_size=8, max_length=48,
                  early_stopping_patience=0,
                  layers=1, context="neighbours", context_words=4, calibrate=False)
    student = train(TrainConfig(**common, teacher=str(tiny_linear), distill_weight=1.0), [small_data],
                    output=tmp_path / "student", progress=False, log=messages.append)
    config = json.loads((student.path / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    assert config["nuchter_inputs"]["context_words"] == 4
    assert any("with the teacher" in m for m in messages)
    plain = train(TrainConfig(**common), [small_data], output=tmp_path / "plain", progress=False, log=lambda m: None)
    texts = ["Magnesium helpt soms bij kramp.", "Bestel nu met korting!"]
    distilled = load_classifier(str(student.path), backend="torch").predict(texts)
    undistilled = load_classifier(str(plain.path), backend="torch").predict(texts)
    assert distilled != undistilled, "the teacher's targets changed nothing"


@pytest.mark.parametrize("context, heads", [("vectors", {"as_before", "as_after"}),
                                             ("page", {"as_before", "as_after", "as_page"})])
def test_a_vectors_or_page_model_trains_its_heads_and_scores_pages(context, heads, small_data, tiny_model, tmp_path):
    from nuchter.classify import load_classifier
    from safetensors.numpy import load_file

    from nuchter.inputs import HEADS_FILE

    config = TrainConfig(base_model=str(tiny_model), max_steps=6, learning_rate=3e-3, batch_size=8, max_length=48,
                         early_stopping_patience=0, context=context)
    out = train(config, [small_data], output=tmp_path / context, progress=False, log=lambda m: None)
    assert json.loads((out.path / "config.json").read_text())["nuchter_inputs"]["context"] == context
    saved = load_file(str(out.path / HEADS_FILE))
    assert set(saved) == heads
    assert all(abs(w).max() > 0 for w in saved.values()), "the heads start at zero: training never reached them"
    assert load_classifier(str(out.path), backend="torch").name == str(out.path)
    # issue 23: exported once at the end of training, one copy of each weight file
    assert (out.path / "onnx" / "model.int8.onnx").is_file() and not (out.path / "onnx" / "model.onnx").exists()
    page = "Tarieven en vergoedingen. Een intake duurt negentig minuten. Het bewijs is nog beperkt."
    served, full = score_text(page, model=str(out.path)), score_text(page, model=str(out.path), config=ScoreConfig(backend="torch"))
    assert len(served.sentences) == 3 and [s.label for s in served.sentences] == [s.label for s in full.sentences]
    assert max(abs(a.scores[l] - b.scores[l]) for a, b in zip(served.sentences, full.sentences) for l in LABELS) < 0.05


def test_a_base_without_a_pooled_vector_gets_its_neighbours_as_a_second_segment(small_data, tiny_model, tmp_path):
    import shutil

    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    base = tmp_path / "roberta"
    RobertaForSequenceClassification(RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=130, type_vocab_size=2, pad_token_id=tokenizer.pad_token_id)).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(tiny_model / name, base / name)
    messages = []
    config = TrainConfig(base_model=str(base), max_steps=2, batch_size=8, max_length=32, early_stopping_patience=0,
                         context="vectors", calibrate=False)
    out = train(config, [small_data], output=tmp_path / "r", progress=False, log=messages.append)
    assert any("second segment instead" in m for m in messages)
    assert json.loads((out.path / "config.json").read_text())["nuchter_inputs"]["context"] == "neighbours"
    assert json.loads((out.path / "training_config.json").read_text())["context"] == "neighbours"


def test_layers_beyond_the_base_are_refused(small_data, tiny_model, tmp_path):
    with pytest.raises(NuchterError, match="cannot keep 5"):
        train(TrainConfig(base_model=str(tiny_model), max_steps=1, layers=5), [small_data],
              output=tmp_path / "m", progress=False, log=lambda m: None)


def test_teacher_targets_are_kept_for_a_resumed_run(small_data, tiny_linear, tmp_path):
    from nuchter.training.train import teacher_targets

    examples = load_corpus([small_data]).examples[:20]
    messages = []
    first = teacher_targets(str(tiny_linear), examples, messages.append, tmp_path)
    again = teacher_targets(str(tiny_linear), examples, messages.append, tmp_path)
    assert again == first and len(first) == 20 and all(abs(sum(row) - 1) < 1e-6 for row in first)
    assert sum("scoring" in m for m in messages) == 1
    other = teacher_targets(str(tiny_linear), examples[:5], messages.append, tmp_path)  # other sentences: scored anew
    assert len(other) == 5 and sum("scoring" in m for m in messages) == 2


@pytest.mark.parametrize("bad", [{"layers": -1}, {"context_words": -3}, {"distill_weight": 1.5},
                                 {"context_words": 8, "context": "vectors"}])
def test_speed_settings_refuse_nonsense(bad):
    with pytest.raises(NuchterError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_a_soup_averages_floating_weights_and_refuses_other_recipes():
    import torch

    from nuchter.training.soup import average

    a = {"w": torch.tensor([1.0, 3.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 5.0]), "ids": torch.tensor([0, 1])}
    mean = average([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and torch.equal(mean["ids"], a["ids"])
    with pytest.raises(NuchterError, match="other weights"):
        average([a, {"w": b["w"]}])
    with pytest.raises(NuchterError, match="other shapes"):
        average([a, {**b, "w": torch.zeros(3)}])
    with pytest.raises(NuchterError, match="differ in ids"):
        average([a, {**b, "ids": torch.tensor([1, 0])}])


def test_a_soup_of_two_seeds_is_their_mean_calibrated_again_and_scores(small_data, tiny_model, tmp_path):
    from safetensors.numpy import load_file

    from nuchter.inputs import HEADS_FILE
    from nuchter.training.soup import soup

    folders = []
    for seed in (1, 2):
        config = TrainConfig(base_model=str(tiny_model), max_steps=4, learning_rate=3e-3, batch_size=8, max_length=48,
                             early_stopping_patience=0, context="vectors", seed=seed)
        folders.append(train(config, [small_data], output=tmp_path / f"seed{seed}", progress=False,
                             log=lambda m: None).path)
    metrics = soup(folders, tmp_path / "soup", [small_data], log=lambda m: None)
    for name in ("model.safetensors", HEADS_FILE):
        one, two, mean = (load_file(str(f / name)) for f in (*folders, tmp_path / "soup"))
        key = next(k for k in mean if mean[k].dtype.kind == "f" and not (one[k] == two[k]).all())
        assert abs(mean[key] - (one[key] + two[key]) / 2).max() < 1e-6
    assert metrics["seed"] == [1, 2] and metrics["calibration"]["temperature"] > 0
    saved = json.loads((tmp_path / "soup" / "config.json").read_text())["nuchter_inputs"]
    assert saved["temperature"] == metrics["calibration"]["temperature"] and saved["context"] == "vectors"
    result = score_text("Het bewijs is nog beperkt. Bestel vandaag!", model=str(tmp_path / "soup"))
    assert len(result.sentences) == 2 and all(s.label in LABELS for s in result.sentences)
    assert not (tmp_path / "soup.partial").exists()
    with pytest.raises(NuchterError, match="at least two"):
        soup(folders[:1], tmp_path / "one", [small_data])
    alone = train(TrainConfig(base_model=str(tiny_model), max_steps=1, batch_size=8, max_length=48,
                              early_stopping_patience=0, context="none"),
                  [small_data], output=tmp_path / "alone", progress=False, log=lambda m: None).path
    with pytest.raises(NuchterError, match="read their input differently"):
        soup([folders[0], alone], tmp_path / "mixed", [small_data])
    import shutil

    headless = shutil.copytree(folders[1], tmp_path / "headless")
    (headless / HEADS_FILE).unlink()
    before = sorted(p.name for p in (tmp_path / "soup").iterdir())
    with pytest.raises(NuchterError, match="not all"):
        soup([folders[0], headless], tmp_path / "soup", [small_data])
    assert sorted(p.name for p in (tmp_path / "soup").iterdir()) == before  # the earlier soup is kept
    assert not (tmp_path / "soup.partial").exists()


def test_a_warm_start_keeps_the_model_and_mixes_the_users_rows_with_the_corpus(small_data, tiny_model, tmp_path):
    """Issue 20: retraining from a user's real labels starts from the model, not from a base encoder."""
    from safetensors.numpy import load_file

    from nuchter.inputs import HEADS_FILE

    first = TrainConfig(base_model=str(tiny_model), max_steps=4, learning_rate=3e-3, batch_size=8, max_length=48,
                        early_stopping_patience=0, context="page", export_onnx=False)
    start = train(first, [small_data], output=tmp_path / "eerst", progress=False, log=lambda m: None).path
    mine = tmp_path / "mijn.csv"
    mine.write_text("tekst;label;doc_id\n" + "".join(
        f"Onze praktijk behandelt {w} met naalden, vergoed door uw verzekeraar.;promotioneel;mijn-{i}\n"
        for i, w in enumerate(["rugpijn", "hoofdpijn", "stress", "slapeloosheid", "migraine"])), encoding="utf-8")
    lines: list[str] = []
    again = TrainConfig(warm_start=str(start), data_repeat=3, mix_corpus=str(small_data), corpus_ratio=2,
                        max_steps=2, batch_size=8, export_onnx=False, early_stopping_patience=0)
    out = train(again, [mine], output=tmp_path / "warm", progress=False, log=lines.append)
    assert any(line.startswith("warm start from") and "'page'" in line for line in lines)
    mixing = next(line for line in lines if line.startswith("training on"))
    assert "x3" in mixing and "corpus rows" in mixing
    saved = json.loads((out.path / "config.json").read_text())["nuchter_inputs"]
    assert saved["context"] == "page" and saved["max_length"] == 48 and saved["prefix"] == ""
    # the heads it started from were loaded, not started again at zero
    before, after = load_file(str(start / HEADS_FILE)), load_file(str(out.path / HEADS_FILE))
    assert set(after) == {"as_before", "as_after", "as_page"}
    assert all(abs(before[k] - after[k]).max() < abs(before[k]).max() for k in before)
    with pytest.raises(NuchterError, match="not a model folder"):
        train(TrainConfig(warm_start=str(tmp_path)), [mine], output=tmp_path / "x", progress=False, log=lambda m: None)
