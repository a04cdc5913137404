"""Macro-F1, per-label precision/recall/F1 and the confusion matrix, as a local
`evaluate` module: `evaluate.load("f1")` fetches a script from the hub and
fails offline, a module loaded by path does not.

One import per line: evaluate's dependency scan misreads `import a, b`.
"""

import datasets
import evaluate

_DESCRIPTION = "Macro-F1 with per-label precision, recall, F1, support and a confusion matrix."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label ids.
    references: gold label ids.
    num_labels: number of classes (ids 0 … num_labels-1).
Returns:
    macro_f1, accuracy, precision, recall, f1, support (lists per label id),
    confusion_matrix (rows: gold, columns: predicted).
"""


class NuchterMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_labels=4):
        matrix = [[0] * num_labels for _ in range(num_labels)]
        for gold, predicted in zip(references, predictions):
            matrix[gold][predicted] += 1
        precision, recall, f1, support = [], [], [], []
        for k in range(num_labels):
            true_positive = matrix[k][k]
            predicted_k = sum(matrix[g][k] for g in range(num_labels))
            gold_k = sum(matrix[k])
            p = true_positive / predicted_k if predicted_k else 0.0
            r = true_positive / gold_k if gold_k else 0.0
            precision.append(p)
            recall.append(r)
            f1.append(2 * p * r / (p + r) if p + r else 0.0)
            support.append(gold_k)
        total = sum(support)
        return {
            "macro_f1": sum(f1) / num_labels,
            "accuracy": sum(matrix[k][k] for k in range(num_labels)) / total if total else 0.0,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "confusion_matrix": matrix,
        }
