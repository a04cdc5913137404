"""Temperature scaling: fitted on dev, lowers the log-loss, never changes a label."""

import numpy as np

from nuchter.training.calibration import calibration_report, expected_calibration_error, fit_temperature, nll, softmax


def _overconfident(n=600, seed=0):
    """Logits whose true temperature is 3: the softmax at T=1 is far too sure."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, 4)) * 3
    probs = softmax(logits, 3.0)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    return logits, labels


def test_fit_recovers_the_temperature_that_generated_the_labels():
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert 2.4 < temperature < 3.7
    assert nll(logits, labels, temperature) < nll(logits, labels, 1.0)


def test_ece_is_zero_for_perfect_confidence_and_large_for_overconfidence():
    probs = np.array([[1.0, 0, 0, 0]] * 10)
    assert expected_calibration_error(probs, np.zeros(10, dtype=int)) == 0.0
    wrong = np.array([[0.97, 0.01, 0.01, 0.01]] * 10)
    assert abs(expected_calibration_error(wrong, np.ones(10, dtype=int)) - 0.97) < 1e-9


def test_report_fits_on_dev_and_improves_test_without_changing_labels():
    dev_logits, dev_labels = _overconfident(seed=1)
    test_logits, test_labels = _overconfident(seed=2)
    report = calibration_report(dev_logits, dev_labels, test_logits, test_labels)
    assert report["test_ece_after"] < report["test_ece_before"]
    assert (softmax(test_logits).argmax(1) == softmax(test_logits, report["temperature"]).argmax(1)).all()
