"""Keys of a film's score: a home key per film, a key per cue around it, modal colours by mood.

Every film gets its own home key, from its picture and itself:

* **Where on the circle of fifths.** A bright, warm film sits on the sharp side (D, A, E major:
  open strings, a ringing orchestra), a dark one on the flat side (Eb, Ab, Db: darker brass and
  strings). The film's mean brightness and valence place it; the film's content hash then moves
  it by up to two fifths either way, so films that look alike still differ, and the same film
  always gets the same key. Every one of the 12 major keys (and so their 12 relative minors) can
  come out.
* **The home pair** is that major key and its relative minor (same signature): major-family cues
  live around the first, minor-family cues around the second, so a change of mood between cues
  is a change of mode inside one key signature, the closest relation there is.

Each cue then takes a key area of its family near home: the tonic, the dominant side (one fifth
up) when its energy is above the film's, the subdominant side (one fifth down) when below; the
first and the last cue with music are at home, and a cue of the same mood as the cue before it
stays in that cue's key. Neighbouring areas are one fifth apart at most, so the composer can
always prepare a change with a pivot chord (:mod:`tempscore.models.form`).

Modal colours where a mood calls for them (the key keeps its tonic, the scale changes):
dorian for a sombre cue close to neutral (valence above -0.12: bittersweet), phrygian for a very
dark, agitated tense cue (valence under -0.6, arousal over 0.5: menace), lydian for a very bright,
calm serene cue (valence over 0.7, arousal under -0.6: wonder), mixolydian for a highly aroused
excited one (arousal over 0.7: heroic drive); each colour on one cue of a film at most, the one
furthest past its threshold (a colour is a moment of the score; lydian, mixolydian and phrygian
also read as a neighbouring key when they last). Lydian and mixolydian are major-family modes,
dorian and phrygian minor-family: a cue's valence still decides major versus minor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..harmony import mode_family, parse_key

#: Mood -> the family of its mode (valence sign): the music's major/minor follows the picture.
MOOD_MODE = {"excited": "major", "serene": "major", "tense": "minor", "sombre": "minor"}
#: Major tonics by position on the circle of fifths (-5 = Db ... 0 = C ... 6 = F#), as key
#: signatures spell them, and the relative minors' spellings.
MAJOR_BY_FIFTHS = {-5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A", 4: "E", 5: "B", 6: "F#"}
MINOR_BY_FIFTHS = {-5: "Bb", -4: "F", -3: "C", -2: "G", -1: "D", 0: "A", 1: "E", 2: "B", 3: "F#", 4: "C#", 5: "G#", 6: "D#"}
#: How far (fifths) the film's content hash may move its home from where its picture puts it.
HASH_SPREAD_FIFTHS = 2


def film_number(content_hash: str, *salt: object) -> int:
    """A non-negative 63-bit number from the film's content hash (and ``salt``): the same film
    gives the same number on every run and machine; different films differ."""
    digest = hashlib.sha256(repr((content_hash, *salt)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _wrap_fifths(f: int) -> int:
    """A position on the circle of fifths folded into -5..6 (enharmonic: F# = Gb)."""
    return (f + 5) % 12 - 5


@dataclass
class HomeKey:
    """The film's home pair and how it was chosen."""

    major: str
    minor: str
    fifths: int  # the major key's position on the circle of fifths (-5..6)
    why: str


def home_key(*, brightness: float, valence: float, content_hash: str) -> HomeKey:
    """The film's home pair (a major key and its relative minor).

    Parameters
    ----------
    brightness : float
        Mean picture brightness over the programme, 0..1.
    valence : float
        Mean valence over the programme, -1..1.
    content_hash : str
        The video's content hash (``VideoInfo.content_hash``); empty moves nothing.
    """
    light = 0.6 * min(1.0, max(0.0, brightness) / 0.6) + 0.4 * min(1.0, max(0.0, (valence + 1) / 2))  # 0.6: full light
    base = int(round(-4 + 8 * light))  # dark: Ab .. bright: E
    shift = film_number(content_hash, "home key") % (2 * HASH_SPREAD_FIFTHS + 1) - HASH_SPREAD_FIFTHS if content_hash else 0
    f = _wrap_fifths(base + shift)
    why = (f"home {MAJOR_BY_FIFTHS[f]} major / {MINOR_BY_FIFTHS[f]} minor: the picture (brightness {brightness:.2f}, "
           f"valence {valence:+.2f}) puts it at {_signature(base)}, the film itself moves it {shift:+d} fifth"
           f"{'s' if abs(shift) != 1 else ''}")
    return HomeKey(f"{MAJOR_BY_FIFTHS[f]} major", f"{MINOR_BY_FIFTHS[f]} minor", f, why)


def _signature(f: int) -> str:
    f = _wrap_fifths(f)
    return "no sharps or flats" if f == 0 else f"{abs(f)} {'sharp' if f > 0 else 'flat'}{'s' if abs(f) > 1 else ''}"


def modal_colour(mood: str, valence: float, arousal: float) -> tuple[str, float] | None:
    """The modal colour a cue's mood calls for and how far past its threshold the cue is, or None
    for plain major/minor (module docstring)."""
    if mood == "sombre" and valence > -0.12:
        return "dorian", valence + 0.12
    if mood == "tense" and valence < -0.6 and arousal > 0.5:
        return "phrygian", min(-0.6 - valence, arousal - 0.5)
    if mood == "serene" and valence > 0.7 and arousal < -0.6:
        return "lydian", min(valence - 0.7, -0.6 - arousal)
    if mood == "excited" and arousal > 0.7:
        return "mixolydian", arousal - 0.7
    return None


def _coloured(cues: list[CueMood]) -> dict[int, str]:
    """The cues that get a modal colour: of the cues whose mood calls for one, the one furthest
    past its threshold, per colour (a colour is a moment of a score, not its language; and a
    dominant-like colour such as lydian reads as the neighbouring key when it lasts)."""
    best: dict[str, tuple[float, int]] = {}
    for i, c in enumerate(cues):
        hit = modal_colour(c.mood, c.valence, c.arousal) if c.music else None
        if hit is not None and (hit[0] not in best or hit[1] > best[hit[0]][0]):
            best[hit[0]] = (hit[1], i)
    return {i: colour for colour, (_, i) in best.items()}


@dataclass
class CueMood:
    """What the key choice needs of a cue."""

    mood: str
    valence: float
    arousal: float
    intensity: float
    music: bool  # False for a leader, a tail or a tacet cue


def cue_keys(cues: list[CueMood], home: HomeKey, *, areas: bool = True) -> list[tuple[str, str]]:
    """The key of each cue and why: its family's home key, moved to the dominant or subdominant
    side by its energy against the film's (``areas=False``: always home, as when a reference track
    gives the keys), with a modal colour where its mood calls for one.

    Returns
    -------
    list of (key, why), one per cue
    """
    with_music = [i for i, c in enumerate(cues) if c.music]
    energy = [0.5 * (cues[i].arousal + 1) / 2 + 0.5 * cues[i].intensity for i in with_music]
    mean_energy = sum(energy) / len(energy) if energy else 0.5
    out: list[tuple[str, str]] = []
    coloured = _coloured(cues)
    prev: tuple[str, int, str] | None = None  # (mood, area, mode) of the last cue with music
    for i, c in enumerate(cues):
        family = MOOD_MODE.get(c.mood, "major" if c.valence >= 0 else "minor")
        e = 0.5 * (c.arousal + 1) / 2 + 0.5 * c.intensity
        if not areas or not with_music or i in (with_music[0], with_music[-1]) or not c.music:
            area, how = 0, "home" if areas else "home (the reference's keys)"
        elif prev is not None and prev[0] == c.mood:
            area, how = prev[1], "the key of the cue before (same mood)"
        else:
            area = 1 if e > mean_energy + 0.05 else -1 if e < mean_energy - 0.05 else 0
            how = {1: "dominant side (more energy than the film's mean)", 0: "home (the film's mean energy)",
                   -1: "subdominant side (less energy than the film's mean)"}[area]
        f = _wrap_fifths(home.fifths + area)
        tonic = MAJOR_BY_FIFTHS[f] if family == "major" else MINOR_BY_FIFTHS[f]
        colour = coloured.get(i)
        mode = colour or family
        why = f"{family} ({c.mood}); {how}" + (f"; {colour} colour ({_COLOUR_WHY[colour]})" if colour else "")
        out.append((f"{tonic} {mode}", why))
        if c.music:
            prev = (c.mood, area, mode)
    return out


_COLOUR_WHY = {"dorian": "sombre, valence near neutral", "phrygian": "tense, very dark and agitated",
               "lydian": "serene, very bright and calm", "mixolydian": "excited, highly aroused"}


def key_for_mood(mood: str | None, auto_key: str, home: tuple[str, str]) -> str:
    """A mood set by the user brings its family's mode (tense/sombre minor, excited/serene major)
    unless the user also named a key: the planner's key when it is of that family already, else
    the home key of that family."""
    if not mood or mood not in MOOD_MODE or mode_family(parse_key(auto_key)[1]) == MOOD_MODE[mood]:
        return auto_key
    return home[0] if MOOD_MODE[mood] == "major" else home[1]
