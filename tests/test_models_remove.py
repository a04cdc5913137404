"""`nuchter models remove`: trained models can be deleted; the built-in and the active one cannot."""

from typer.testing import CliRunner

from nuchter import store
from nuchter.cli.main import app

runner = CliRunner()


def install(home, name, size=2000):
    folder = home / "models" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * size)
    return folder


def test_a_confirmed_remove_deletes_the_model(isolated_store):
    folder = install(isolated_store, "oud", size=3_000_000)
    install(isolated_store, "nieuw")
    result = runner.invoke(app, ["models", "remove", "oud"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "remove model oud (3 MB)" in result.stdout and "removed oud (3 MB freed)" in result.stdout
    assert not folder.exists() and [m.name for m in store.list_models()] == ["nieuw"]
    assert list((isolated_store / "models").iterdir()) == [isolated_store / "models" / "nieuw"]


def test_no_answer_removes_nothing(isolated_store):
    folder = install(isolated_store, "oud")
    result = runner.invoke(app, ["models", "remove", "oud"], input="n\n")
    assert result.exit_code == 1 and "error: nothing removed" in result.stderr
    assert folder.is_dir()


def test_yes_skips_the_question(isolated_store):
    install(isolated_store, "oud")
    result = runner.invoke(app, ["models", "remove", "oud", "--yes"])
    assert result.exit_code == 0 and "?" not in result.stdout
    assert store.list_models() == []


def test_the_active_model_and_the_built_in_ones_stay(isolated_store):
    folder = install(isolated_store, "actief")
    store.use("actief")
    result = runner.invoke(app, ["models", "remove", "actief", "--yes"])
    assert result.exit_code == 1 and "actief is the active model; switch first" in result.stderr
    assert folder.is_dir() and "Traceback" not in result.output
    for name in store.BUILTINS:
        result = runner.invoke(app, ["models", "remove", name, "--yes"])
        assert result.exit_code == 1 and f"{name} is part of the installation" in result.stderr


def test_an_unknown_name_lists_what_can_be_removed(isolated_store):
    install(isolated_store, "een")
    (isolated_store / "models" / "half.partial").mkdir()
    for name in ("twee", "half.partial", "../models", "een/../een", ""):
        result = runner.invoke(app, ["models", "remove", name, "--yes"])
        assert result.exit_code == 1, name
        assert "no installed model named" in result.stderr and "(removable: een)" in result.stderr, name
    assert (isolated_store / "models" / "half.partial").is_dir()
