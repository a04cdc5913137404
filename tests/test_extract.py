import codecs

import pytest

from nuchter.errors import InputError
from nuchter.extract import decode, read_text_file

TEXT = "Dit beïnvloedt patiënten – “echt” waar, €5."


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        TEXT.encode("cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16le", "utf16be", "cp1252"],
)
def test_decodings(data):
    assert decode(data) == TEXT


def test_latin1_text_is_read_as_cp1252():
    assert decode("café naïef".encode("latin-1")) == "café naïef"


@pytest.mark.parametrize("data", [b"\x00\x01\x02\x03binary", bytes(range(32)) * 20])
def test_binary_is_refused(data):
    with pytest.raises(InputError, match="binary"):
        decode(data, "x.bin")


def test_read_text_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_text_file(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="directory"):
        read_text_file(tmp_path)
    big = tmp_path / "big.txt"
    big.write_text("a" * 2048)
    with pytest.raises(InputError, match="limit"):
        read_text_file(big, max_bytes=1024)


def test_stray_control_characters_are_dropped_not_refused():
    """A NUL or escape from a copy-paste no longer makes piped text 'binary' (issue 10)."""
    assert decode(b"Kurk\x00uma geneest\x1b alles.\r\n") == "Kurkuma geneest alles.\r\n"
    assert decode("café\x07".encode("cp1252")) == "café"
    with pytest.raises(InputError, match="binary"):
        decode("Dit is tekst zonder byte-order mark".encode("utf-16-le"))
