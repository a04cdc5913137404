"""An evaluation → one self-contained HTML page with its charts. Pure: dicts in, a string out.

`nuchter evaluate --html` writes it: the confusion matrix as a heat map, precision/recall/F1 per
label with their 95 % intervals, a reliability diagram of the calibrated confidence with its ECE,
accuracy per register or group, and the errors, filterable by gold and predicted label. The
sentences listed are data being judged: escaped, and the page's CSP runs only its own script.
"""

from __future__ import annotations

from nuchter.labels import LABELS
from nuchter.reports import charts
from nuchter.reports.html import STYLESHEET, esc, label_class, legend_html, script_policy, static_text

_JS = static_text(__package__, "evaluation.js")
CSP = script_policy(_JS)
_PAGE_CSS = static_text(__package__, "evaluation.css")


def _where(metrics: dict) -> str:
    if metrics.get("mode") == "pages":
        return f"{metrics['sentences']} sentences in {metrics['pages']} pages, each scored as one text"
    return f"{metrics['sentences']} sentences ({metrics.get('split', 'all')})"


def _headline(metrics: dict, figures: dict) -> str:
    low_high = metrics.get("macro_f1_interval") or figures.get("macro_f1_interval")
    over = "pages" if metrics.get("mode") == "pages" else "documents"
    spread = f" (95 % interval over {over} {low_high[0]:.3f}–{low_high[1]:.3f})" if low_high else ""
    return f"macro-F1 {metrics['macro_f1']:.3f}{spread} · accuracy {metrics['accuracy']:.3f}"


def _metric_table(metrics: dict, intervals: dict) -> list[str]:
    out = ['<div class="table-wrap"><table id="per-label-table"><thead><tr><th scope="col">label</th>',
           *(f'<th scope="col" class="num">{name}</th>' for name in ("precision", "recall", "F1", "support")),
           "</tr></thead><tbody>\n"]
    for label in LABELS:
        m, iv = metrics["per_label"][label], intervals.get(label, {})
        cells = [f'<td class="num">{m[k]:.3f} <span class="meta">({iv[k][0]:.2f}–{iv[k][1]:.2f})</span></td>'
                 if k in iv else f'<td class="num">{m[k]:.3f}</td>' for k in charts.METRICS]
        out.append(f'<tr><th scope="row"><span class="swatch {label_class(label)}">{esc(label)}</span></th>'
                   f'{"".join(cells)}<td class="num">{int(m["support"])}</td></tr>\n')
    out.append("</tbody></table></div>\n")
    return out


def _errors(figures: dict) -> list[str]:
    errors = figures["errors"]
    total = figures.get("error_count", len(errors))
    options = '<option value="">any</option>' + "".join(f'<option value="{esc(l)}">{esc(l)}</option>' for l in LABELS)
    out = ['<section id="errors">\n', f"<h2>Errors ({total})</h2>\n"]
    if len(errors) < total:
        out.append(f'<p class="meta">The first {len(errors)} are listed; `--errors FILE` writes them all.</p>\n')
    out.append(f'<div class="filters"><label>gold <select id="filter-gold">{options}</select></label>'
               f'<label>predicted <select id="filter-predicted">{options}</select></label>'
               f'<span id="errors-shown" class="meta">{len(errors)} listed</span></div>\n')
    out.append('<div class="table-wrap"><table id="errors-table"><thead><tr>'
               '<th scope="col">sentence</th><th scope="col">gold</th><th scope="col">predicted</th>'
               '<th scope="col" class="num">confidence</th><th scope="col">page</th></tr></thead><tbody>\n')
    for e in errors:
        page = e["page"] + (f" · {e['group']}" if e.get("group") else "")
        out.append(
            f'<tr data-gold="{esc(e["gold"])}" data-predicted="{esc(e["predicted"])}">'
            f'<td class="sentence">{esc(e["text"])}</td>'
            f'<td><span class="swatch {label_class(e["gold"])}">{esc(e["gold"])}</span></td>'
            f'<td><span class="swatch {label_class(e["predicted"])}">{esc(e["predicted"])}</span></td>'
            f'<td class="num">{float(e["confidence"]):.2f}</td><td class="path">{esc(page)}</td></tr>\n'
        )
    out.append("</tbody></table></div>\n</section>\n")
    return out


def render_evaluation_html(metrics: dict, figures: dict, *, title: str = "nuchter evaluate") -> str:
    """The whole page; ``metrics`` as `evaluate --format json` prints them, ``figures`` from
    ``nuchter.training.evaluation.figures``."""
    reliability = figures["reliability"]
    out = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n',
        '<meta name="referrer" content="no-referrer">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{esc(title)}</title>\n<style>{STYLESHEET}{_PAGE_CSS}</style>\n</head>\n<body>\n<main>\n",
        f"<h1>{esc(title)}</h1>\n",
        f'<p class="meta">model {esc(metrics["model"])} ({esc(metrics.get("serving", ""))}) on {esc(_where(metrics))}</p>\n',
        f'<p class="summary" id="headline">{esc(_headline(metrics, figures))}</p>\n',
        legend_html(),
        '<section id="charts" class="charts">\n',
        '<figure id="confusion">', charts.confusion_heatmap(metrics["confusion_matrix"]["rows_gold_columns_predicted"]),
        "<figcaption>Confusion matrix: each row is the gold label, each column what the model said; a cell is "
        "shaded by its share of its row (green: right, red: wrong). Click a cell to list those errors.</figcaption></figure>\n",
        '<figure id="per-label">', charts.label_metric_bars(metrics["per_label"], figures["label_intervals"]),
        "<figcaption>Precision (P), recall (R) and F1 per label; the whiskers are 95 % intervals from "
        "resampling whole pages (sentence mode: whole documents).</figcaption></figure>\n",
        '<figure id="reliability">', charts.reliability_diagram(reliability["bins"], reliability["ece"]),
        f"<figcaption>Reliability of the confidence shown to users: for the {reliability['sentences']} sentences in "
        f"bins of confidence, the share labelled right. On the dashed diagonal a confidence of 0.8 is right 8 times "
        f"in 10. ECE (expected calibration error, 10 bins) {reliability['ece']:.3f}.</figcaption></figure>\n",
    ]
    if figures.get("per_group"):
        out += ['<figure id="groups">', charts.group_accuracy_bars(figures["per_group"]),
                "<figcaption>Accuracy per register or group.</figcaption></figure>\n"]
    out.append("</section>\n<section id=\"figures\">\n<h2>Per label</h2>\n")
    out += _metric_table(metrics, figures["label_intervals"])
    out.append("</section>\n")
    out += _errors(figures)
    out.append(f"</main>\n<script>{_JS}</script>\n</body>\n</html>\n")
    return "".join(out).encode("utf-8", "replace").decode("utf-8")
