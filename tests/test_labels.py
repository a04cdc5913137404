import pytest

from nuchter.labels import LABELS, PRECEDENCE, UnknownLabelError, normalise_label


def test_four_labels_in_precedence():
    assert set(LABELS) == set(PRECEDENCE) and len(LABELS) == 4


@pytest.mark.parametrize(
    "raw, expected",
    [("Supported", "supported"), (" HEDGED ", "hedged"), ("overdreven", "overclaimed"), ("Promotioneel", "promotional")],
)
def test_normalise(raw, expected):
    assert normalise_label(raw) == expected


def test_did_you_mean():
    with pytest.raises(UnknownLabelError, match="did you mean 'overclaimed'"):
        normalise_label("overclaim")
    with pytest.raises(UnknownLabelError, match="expected one of"):
        normalise_label("xyz")
