"""Keys: every film its own home key (all 24 reachable, the same film always the same), cue keys
of the mood's family around it, modal colours that stay parseable and writable to MIDI."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tempscore.harmony import (
    SCALES,
    mode_family,
    normalize_key,
    parse_key,
    signature_tonic,
)
from tempscore.scoring.keys import CueMood, cue_keys, home_key, key_for_mood


def test_every_key_is_reachable_and_a_film_keeps_its_own():
    homes = {}
    for i in range(400):
        for light in (0.0, 0.3, 0.6):
            h = home_key(brightness=light, valence=light / 0.3 - 1, content_hash=f"film-{i}")
            homes.setdefault(h.major, h)
    majors = {parse_key(k)[0] for k in homes}
    minors = {parse_key(h.minor)[0] for h in homes.values()}
    assert majors == set(range(12)) and minors == set(range(12))  # 24 keys
    a = home_key(brightness=0.4, valence=0.1, content_hash="abc")
    assert a == home_key(brightness=0.4, valence=0.1, content_hash="abc")
    # a relative pair: the same signature
    for h in homes.values():
        assert signature_tonic(*parse_key(h.minor)) == parse_key(h.minor)
        assert (parse_key(h.major)[0] - parse_key(h.minor)[0]) % 12 == 3
    # dark films lean flat, bright ones sharp (same film hash)
    dark = [home_key(brightness=0.05, valence=-0.8, content_hash=f"f{i}").fifths for i in range(200)]
    bright = [home_key(brightness=0.6, valence=0.8, content_hash=f"f{i}").fifths for i in range(200)]
    assert sum(dark) / 200 < -1.5 < 1.5 < sum(bright) / 200


@given(v=st.floats(-1, 1), a=st.floats(-1, 1), i=st.floats(0, 1), n=st.integers(1, 8))
def test_a_cue_key_is_of_its_moods_family_and_near_home(v, a, i, n):
    from tempscore.vision.emotion import mood_label

    mood = mood_label(v, a)
    home = home_key(brightness=0.3, valence=0.0, content_hash="x")
    cues = [CueMood(mood_label(v * (k % 2 * 2 - 1), a), v * (k % 2 * 2 - 1), a, i, True) for k in range(n)]
    cues.append(CueMood(mood, v, a, i, True))
    for c, (key, why) in zip(cues, cue_keys(cues, home)):
        tonic, mode = parse_key(key)
        assert mode_family(mode) == ("major" if c.mood in ("excited", "serene") else "minor")
        home_tonic = parse_key(home.major if mode_family(mode) == "major" else home.minor)[0]
        assert (tonic - home_tonic) % 12 in (0, 5, 7)  # home, or one fifth either way
        assert c.mood in why
    first, last = cue_keys(cues, home)[0][0], cue_keys(cues, home)[-1][0]
    assert parse_key(first)[0] in (parse_key(home.major)[0], parse_key(home.minor)[0])
    assert parse_key(last)[0] in (parse_key(home.major)[0], parse_key(home.minor)[0])


def test_modes_parse_write_and_keep_major_and_minor_working():
    assert normalize_key("d Dorian") == "D dorian" and normalize_key("A aeolian") == "A minor"
    assert normalize_key("D minor") == "D minor" and normalize_key("f#m") == "F# minor"
    assert normalize_key("Bb mixolydian") == "Bb mixolydian" and normalize_key("C ionian") == "C major"
    for bad in ("C blues", "H", "E# lydian"):
        with pytest.raises(ValueError):
            normalize_key(bad)
    assert set(SCALES) == {"major", "minor", "dorian", "phrygian", "lydian", "mixolydian"}
    from tempscore.render.midi import _key_signature

    # a mode is written with its parent scale's signature, in its family
    assert _key_signature("D dorian") == "Am" and _key_signature("G mixolydian") == "C"
    assert _key_signature("E phrygian") == "Am" and _key_signature("F lydian") == "C"
    assert _key_signature("F# dorian") == "C#m" and _key_signature("Eb lydian") == "Bb"


def test_a_mood_edit_brings_its_family_unless_the_key_is_of_it_already():
    home = ("A major", "F# minor")
    assert key_for_mood("tense", "A major", home) == "F# minor"
    assert key_for_mood("sombre", "B dorian", home) == "B dorian"
    assert key_for_mood("excited", "B dorian", home) == "A major"
    assert key_for_mood(None, "B dorian", home) == "B dorian"


def test_a_modal_colour_is_one_moment_of_a_film():
    """Of the cues whose mood calls for the same colour, only the most extreme gets it."""
    home = home_key(brightness=0.5, valence=0.5, content_hash="y")
    cues = [CueMood("serene", 0.8, -0.7, 0.1, True), CueMood("serene", 0.95, -0.9, 0.1, True),
            CueMood("sombre", -0.05, -0.5, 0.2, True), CueMood("serene", 0.9, -0.8, 0.1, True)]
    modes = [parse_key(k)[1] for k, _ in cue_keys(cues, home)]
    assert modes == ["major", "lydian", "dorian", "major"]
