"""Golden tests for Dutch sentence segmentation, many cut from the seed texts."""

import pytest

from nuchter.segment import FURNITURE, HEADING, REFERENCE, SENTENCE, URL, is_reference, segment, segment_lines
from tests.conftest import SEEDS


def sentences(text):
    return [s.text for s in segment(text) if s.kind == SENTENCE]


def kinds(text):
    return [(s.text, s.kind) for s in segment(text) if s.kind != SENTENCE]


@pytest.mark.parametrize(
    "text, expected",
    [
        # Abbreviations that pysbd splits on when a capital follows.
        ("Dit werd getest door Dr. Jansen in Leiden. Het werkte niet.",
         ["Dit werd getest door Dr. Jansen in Leiden.", "Het werkte niet."]),
        ("Volgens Smith et al. Toonden muizen minder angst. Bij mensen is dat onbekend.",
         ["Volgens Smith et al. Toonden muizen minder angst.", "Bij mensen is dat onbekend."]),
        ("Sommige stoffen, bijv. Psilocybine, werken op 5-HT2A. Dat is bekend.",
         ["Sommige stoffen, bijv. Psilocybine, werken op 5-HT2A.", "Dat is bekend."]),
        ("Neem bv. Magnesium of zink. Dat helpt soms.", ["Neem bv. Magnesium of zink.", "Dat helpt soms."]),
        ("Er zijn o.a. studies bij muizen gedaan. Meer volgt.", ["Er zijn o.a. studies bij muizen gedaan.", "Meer volgt."]),
        ("Het is een microdosis, d.w.z. een heel lage dosis. Je voelt weinig.",
         ["Het is een microdosis, d.w.z. een heel lage dosis.", "Je voelt weinig."]),
        ("Er deden ca. 30 mensen mee. Dat is weinig.", ["Er deden ca. 30 mensen mee.", "Dat is weinig."]),
        # A letter that ends a sentence is not an initial (issue 23): vitamins, types, plans.
        ("Slik elke dag vitamine D. Deze pillen genezen kanker.",
         ["Slik elke dag vitamine D.", "Deze pillen genezen kanker."]),
        ("Een tekort aan vitamine C. Dat merk je snel.", ["Een tekort aan vitamine C.", "Dat merk je snel."]),
        ("Neem vitamine K. Zonlicht helpt ook.", ["Neem vitamine K.", "Zonlicht helpt ook."]),
        ("Het vaccin beschermt tegen hepatitis B. Bij kinderen werkt het goed.",
         ["Het vaccin beschermt tegen hepatitis B.", "Bij kinderen werkt het goed."]),
        ("Het gaat om diabetes type 2. Het helpt niet.", ["Het gaat om diabetes type 2.", "Het helpt niet."]),
        ("Dit is fase 3. Daarna volgt meer.", ["Dit is fase 3.", "Daarna volgt meer."]),
        ("Volg stap 4. Neem dan rust.", ["Volg stap 4.", "Neem dan rust."]),
        ("Ik slik zink en vitamine E. Maar helpt het?", ["Ik slik zink en vitamine E.", "Maar helpt het?"]),
        # Initials stay with their name.
        ("Volgens dr. A. de Vries werkt het. Dat is zo.", ["Volgens dr. A. de Vries werkt het.", "Dat is zo."]),
        ("J. Jansen schreef het. Dat klopt.", ["J. Jansen schreef het.", "Dat klopt."]),
        ("Onderzoek van J. Jansen toont het aan.", ["Onderzoek van J. Jansen toont het aan."]),
        ("Prof. J.W. Smits zegt dat.", ["Prof. J.W. Smits zegt dat."]),
        ("Prof. J. W. Smits zegt dat.", ["Prof. J. W. Smits zegt dat."]),
        ("Volgens J. De Smet werkt het.", ["Volgens J. De Smet werkt het."]),
        ("Huisarts J. Bakker zegt het.", ["Huisarts J. Bakker zegt het."]),
        ("Dat schreef A. Van Dam al.", ["Dat schreef A. Van Dam al."]),
        # Citations, decimals and receptor names stay inside their sentence.
        ("Psilocybine verhoogt de spinedichtheid (Shao et al., 2021). Een enkele dosis volstond.",
         ["Psilocybine verhoogt de spinedichtheid (Shao et al., 2021).", "Een enkele dosis volstond."]),
        ("Een dosis van 2,5 mg werkt via de 5-HT2A receptor. Bij 0.5 mg niet.",
         ["Een dosis van 2,5 mg werkt via de 5-HT2A receptor.", "Bij 0.5 mg niet."]),
        # Quotes and questions.
        ("“Het werkt echt,” zei de verkoper. Maar werkt het écht?",
         ["“Het werkt echt,” zei de verkoper.", "Maar werkt het écht?"]),
        # Missing final stop.
        ("Magnesium helpt bij slaap. Kurkuma geneest alles", ["Magnesium helpt bij slaap.", "Kurkuma geneest alles"]),
        # A line break inside a sentence (hard-wrapped text).
        ("Psilocybine wordt in het lichaam\nomgezet in psilocine, een stof die\nop 5-HT2A werkt. Dat is bekend.",
         ["Psilocybine wordt in het lichaam\nomgezet in psilocine, een stof die\nop 5-HT2A werkt.", "Dat is bekend."]),
    ],
)
def test_sentence_boundaries(text, expected):
    assert sentences(text) == expected


def test_single_line_without_stop_is_a_sentence():
    assert sentences("Kurkuma geneest kanker") == ["Kurkuma geneest kanker"]


def test_headings_and_furniture_are_skipped():
    text = (
        "Wetenschappelijk bewijs\n\nMeldingen\nAlles wissen\n2 Berichten\n1\n"
        "PSILOCYBINE EN NEUROGENESE\n"
        "Psilocybine beïnvloedt neurogenese. Dat is gemeten bij muizen.\n"
        "Social share\n"
    )
    assert sentences(text) == ["Psilocybine beïnvloedt neurogenese.", "Dat is gemeten bij muizen."]
    assert kinds(text) == [
        ("Wetenschappelijk bewijs", FURNITURE),
        ("Meldingen", FURNITURE),
        ("Alles wissen", FURNITURE),
        ("2 Berichten", FURNITURE),
        ("1", FURNITURE),
        ("PSILOCYBINE EN NEUROGENESE", HEADING),
        ("Social share", FURNITURE),
    ]


def test_heading_followed_directly_by_text():
    text = "Stemming en emotioneel welzijn\nVeel mensen hopen zich lichter te voelen. Het bewijs is beperkt."
    assert kinds(text) == [("Stemming en emotioneel welzijn", HEADING)]
    assert sentences(text) == ["Veel mensen hopen zich lichter te voelen.", "Het bewijs is beperkt."]


def test_bullets_are_separate_units():
    text = "Genoemde voordelen zijn:\n- een stabielere stemming bij sommige mensen\n- meer focus op het werk\n* Home\n"
    assert sentences(text) == ["een stabielere stemming bij sommige mensen", "meer focus op het werk"]
    assert ("* Home", FURNITURE) in kinds(text)


def test_reference_list_and_urls_are_skipped():
    text = (
        "Het bewijs groeit nog.\n"
        "https://voorbeeld.nl/wp-content/uploads/plaatje.webp\n"
        "Referenties\n"
        "- Nichols DE. Psychedelics. Pharmacological Reviews. 2016;68(2):264-355. doi:https://doi.org/10.1124/pr.115.011478 ↩︎\n"
        "1. Ly C, Greb AC, Cameron LP, et al. Psychedelics Promote Structural and Functional Neural Plasticity. Cell Reports. 2018;23(11):3170-3182.\n"
    )
    assert sentences(text) == ["Het bewijs groeit nog."]
    skipped = kinds(text)
    assert skipped[0][1] == URL
    assert [k for _, k in skipped[2:]] == [REFERENCE, REFERENCE]


def test_reference_entry_outside_a_reference_section():
    assert is_reference("Nichols DE. Psychedelics. Pharmacological Reviews. 2016;68(2):264-355.")
    assert not is_reference("Nichols toonde in 2016 aan dat psychedelica op 5-HT2A werken.")


def test_emoji_ends_a_forum_line():
    text = "eerste post hier\nik slaap echt zoveel beter sinds die magnesium 😍\nwie herkent dit"
    assert sentences(text) == ["ik slaap echt zoveel beter sinds die magnesium 😍"]


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_seed_offsets_round_trip(path):
    text = path.read_text(encoding="utf-8")
    segments = list(segment(text))
    assert segments, "seed produced nothing"
    for s in segments:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))


def test_seed_furniture_is_dropped():
    forum = (SEEDS / "001_d8e880207c2ce72f.txt").read_text(encoding="utf-8")
    scored = sentences(forum)
    for furniture in ("Meldingen", "Alles wissen", "2 Berichten", "Social share", "Topic starter"):
        assert furniture not in scored
    assert not any(s.startswith("https://") for s in scored)
    guide = (SEEDS / "004_821a28fb0f0c4d16.txt").read_text(encoding="utf-8")
    assert not any("doi" in s for s in sentences(guide))
    assert "Het belangrijkste is dat het bewijs nog groeit en dat langetermijngegevens uit gecontroleerd onderzoek beperkt zijn." in sentences(guide)


def test_segment_lines_keeps_every_line():
    text = "eerste regel\n\n  tweede regel  \nDr. Jansen. Nog iets."
    assert [s.text for s in segment_lines(text)] == ["eerste regel", "tweede regel", "Dr. Jansen. Nog iets."]


@pytest.fixture(params=[True, False], ids=["fast-path", "pysbd-only"])
def both_paths(request, monkeypatch):
    import nuchter.segment as seg

    monkeypatch.setattr(seg, "USE_FAST_PATH", request.param)
    return request.param


def test_golden_cases_hold_on_both_paths(both_paths):
    assert sentences("Dit werd getest door Dr. Jansen. Het werkte niet!!! Echt?") == [
        "Dit werd getest door Dr. Jansen.", "Het werkte niet!!!", "Echt?"]
    assert sentences("Het kost 1.150 euro. Voor 22.00 uur besteld (Shao et al., 2021). Klaar.") == [
        "Het kost 1.150 euro.", "Voor 22.00 uur besteld (Shao et al., 2021).", "Klaar."]
    assert sentences("Ze zei: 'Het werkt niet.' Daarna ging ze weg.") == ["Ze zei: 'Het werkt niet.'", "Daarna ging ze weg."]


def test_fast_path_agrees_with_pysbd(monkeypatch):
    """The regex fast path must cut real text exactly as pysbd (plus our rules) does."""
    import json
    from collections import defaultdict

    import nuchter.segment as seg

    docs = defaultdict(list)
    for path in sorted((SEEDS.parent / "original").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            docs[row["doc_id"]].append(row["text"])
    corpus = [" ".join(sentences) for sentences in docs.values()]
    seeds = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]

    def run(texts, fast):
        monkeypatch.setattr(seg, "USE_FAST_PATH", fast)
        return [list(segment(t)) for t in texts]

    assert run(seeds, True) == run(seeds, False)
    fast, slow = run(corpus, True), run(corpus, False)
    differing = sum(a != b for a, b in zip(fast, slow))
    # The few differences are pysbd misses the fast path gets right ("verdubbelt. Slaaptekort").
    assert differing <= len(corpus) // 100, differing
