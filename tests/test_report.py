import csv
import io
import json

from nuchter.reports import tables as report
from nuchter.labels import LABELS
from nuchter.results import ScoreResult, SentenceScore, Skipped, summarise


def sentence(index, text, label, start=0):
    scores = {l: (0.7 if l == label else 0.1) for l in LABELS}
    return SentenceScore(index, start, start + len(text), text, label, 0.7, scores)


RESULT = ScoreResult(
    model="tiny",
    sentences=(
        sentence(0, "Kurkuma geneest alles.", "overclaimed"),
        sentence(1, "=HYPERLINK(\"http://x\") bestel nu", "promotional", 23),
        sentence(2, "Het bewijs is beperkt.", "hedged", 57),
    ),
    skipped=(Skipped(80, 89, "Meldingen", "furniture"),),
)


def test_summary_counts_and_flagged_share():
    assert summarise(RESULT.sentences) == {
        "sentences": 3,
        "counts": {"supported": 0, "hedged": 1, "overclaimed": 1, "promotional": 1},
        "flagged": 2,
        "flagged_share": 0.6667,
    }
    assert summarise([])["flagged_share"] == 0.0


def test_json_shape_and_round_trip():
    data = json.loads(report.to_json(RESULT))
    assert data["model"] == "tiny"
    assert data["sentences"][0] == RESULT.sentences[0].to_dict()
    assert data["skipped"] == [{"start": 80, "end": 89, "text": "Meldingen", "reason": "furniture"}]
    assert data["summary"]["flagged"] == 2


def test_jsonl_one_object_per_sentence():
    lines = list(report.to_jsonl(RESULT))
    assert [json.loads(l)["index"] for l in lines] == [0, 1, 2]


def test_csv_is_spreadsheet_safe():
    rows = list(csv.DictReader(io.StringIO(report.to_csv(RESULT))))
    assert rows[1]["text"].startswith("'=HYPERLINK")
    assert rows[0]["text"] == "Kurkuma geneest alles."
    assert float(rows[0]["score_overclaimed"]) == 0.7


def test_spreadsheet_safe_leaves_numbers_alone():
    assert report.spreadsheet_safe(-0.5) == -0.5
    assert report.spreadsheet_safe("-5 kg in een week") == "'-5 kg in een week"
    assert report.spreadsheet_safe("@gebruiker") == "'@gebruiker"


def test_summary_line():
    line = report.summary_line(RESULT)
    assert line.startswith("3 sentences: 0 supported, 1 hedged, 1 overclaimed, 1 promotional; 67% flagged")
    assert "1 skipped (headings" in line
