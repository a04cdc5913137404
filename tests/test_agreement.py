import pytest

from nuchter.training.agreement import agreement, cohen_kappa
from nuchter.training.config import TrainConfig
from nuchter.errors import NuchterError


def test_kappa_known_values():
    assert cohen_kappa(list("aabb"), list("aabb")) == 1.0
    # observed 0.5, expected 0.5 -> no agreement beyond chance
    assert cohen_kappa(list("abab"), list("aabb")) == pytest.approx(0.0)
    # textbook example: 20 items, observed 0.7, expected 0.5
    first = ["y"] * 10 + ["n"] * 10
    second = ["y"] * 7 + ["n"] * 3 + ["y"] * 3 + ["n"] * 7
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_agreement_report_per_label():
    report = agreement(["supported", "hedged", "overclaimed", "promotional"], ["supported", "hedged", "overclaimed", "hedged"])
    assert report["observed_agreement"] == 0.75
    assert report["kappa_per_label"]["supported"] == 1.0
    assert report["kappa_per_label"]["promotional"] == 0.0
    assert report["matrix_rows_first_columns_second"][3][1] == 1


def test_train_config_checks_and_files(tmp_path):
    with pytest.raises(NuchterError, match="learning_rate"):
        TrainConfig(learning_rate=5)
    path = tmp_path / "train.toml"
    path.write_text('[training]\nepochs = 4\nbase_model = "scratch"\n')
    config = TrainConfig.from_file(path, epochs=8, seed=None)
    assert (config.epochs, config.base_model, config.seed) == (8, "scratch", 42)
    path.write_text("epochs = [")
    with pytest.raises(NuchterError, match="not valid TOML"):
        TrainConfig.from_file(path)
