"""Temperature scaling (Guo et al. 2017): one number, fitted on dev, that makes confidences honest.

A class-weighted loss and few epochs leave a classifier's softmax over- or
under-confident; dividing the logits by a temperature fitted to minimise the
dev log-loss fixes most of it without changing a single predicted label.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probs = softmax(logits, temperature)
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] with the lowest log-loss (golden-section search on log T;
    the log-loss is unimodal in T)."""
    labels = np.asarray(labels)
    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by bin size."""
    probs = np.asarray(probs)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        members = (confidence > low) & (confidence <= high)
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def calibration_report(dev_logits, dev_labels, test_logits, test_labels) -> dict:
    """Fit on dev; ECE before and after on dev and test, for metrics.json and the card."""
    temperature = fit_temperature(dev_logits, dev_labels)
    report = {"temperature": round(temperature, 4), "bins": 15}
    for split, logits, labels in (("dev", dev_logits, dev_labels), ("test", test_logits, test_labels)):
        report[f"{split}_ece_before"] = round(expected_calibration_error(softmax(logits), labels), 4)
        report[f"{split}_ece_after"] = round(expected_calibration_error(softmax(logits, temperature), labels), 4)
    return report
