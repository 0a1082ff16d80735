"""Music-theory helpers shared by the composers: keys, scales, chords, progressions, ranges."""

from __future__ import annotations

from dataclasses import dataclass

PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6, "G": 7,
                 "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
#: Scales by mode: major and (natural) minor, and the four modal colours a mood may call for.
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
          "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11), "mixolydian": (0, 2, 4, 5, 7, 9, 10)}
#: The major/minor family of each mode (the third above the tonic): what the melody model is
#: conditioned on and what "mode right" means for a valence.
MODE_FAMILY = {"major": "major", "lydian": "major", "mixolydian": "major", "minor": "minor", "dorian": "minor",
               "phrygian": "minor"}
#: Other names musicians write for a mode (church-mode names of major and minor).
_MODE_WORDS = {"major": "major", "maj": "major", "ionian": "major", "minor": "minor", "min": "minor",
               "aeolian": "minor", "dorian": "dorian", "phrygian": "phrygian", "lydian": "lydian",
               "mixolydian": "mixolydian"}
#: Chord progressions (0-based scale degrees, one chord per bar) by mood.
PROGRESSIONS = {
    "excited": (0, 4, 5, 3),  # I V vi IV
    "serene": (0, 5, 3, 4),  # I vi IV V
    "tense": (0, 5, 3, 4),  # i VI iv V
    "sombre": (0, 5, 2, 6),  # i VI III VII
}
#: General MIDI programs (0-based).
GM = {"piano": 0, "celesta": 8, "harp": 46, "strings": 48, "slow_strings": 49, "pizzicato": 45, "violin": 40,
      "viola": 41, "cello": 42, "contrabass": 43, "timpani": 47, "trumpet": 56, "trombone": 57, "french_horn": 60,
      "brass": 61, "oboe": 68, "clarinet": 71, "flute": 73}
#: Comfortable MIDI ranges (low, high) per GM program.
RANGES = {0: (36, 96), 8: (60, 96), 46: (36, 91), 48: (43, 84), 49: (43, 84), 45: (36, 84), 40: (55, 96), 41: (48, 84),
          42: (36, 72), 43: (28, 55), 47: (40, 55), 56: (55, 82), 57: (40, 70), 60: (41, 77), 61: (48, 79),
          68: (58, 91), 71: (50, 89), 73: (60, 96)}
DRUM = {"kick": 36, "snare": 38, "crash": 49, "ride": 51, "bass_drum": 35, "tom_low": 45}


def normalize_key(key: str) -> str:
    """A key as musicians write it, in the timeline's spelling: ``"c# min"``, ``"C#m"``, ``"E♭"``,
    ``"f sharp minor"``, ``"Bb Major"``, ``"d Dorian"`` -> ``"C# minor"``, ``"C# minor"``, ``"Eb major"``,
    ``"F# minor"``, ``"Bb major"``, ``"D dorian"``. A bare note is major; ``m``/``min``/``minor``
    (and ``aeolian``) minor, ``M``/``maj`` (chord-symbol case) and ``ionian`` major; ``dorian``,
    ``phrygian``, ``lydian`` and ``mixolydian`` name those modes. The accidental is kept as written
    (C# and Db are both fine).

    Raises
    ------
    ValueError
        Not a key (German ``H``, a mode word not listed, a note that does not exist).
    """
    import re

    text = str(key).strip().replace("♯", "#").replace("♭", "b")
    m = re.fullmatch(r"([A-Ga-g])\s*(#|b|-?\s*sharp|-?\s*flat)?\s*([A-Za-z]+)?\.?", text)
    word = (m.group(3) or "") if m else ""
    mode = "major" if word in ("", "M") else "minor" if word == "m" else _MODE_WORDS.get(word.lower())
    if m is None or mode is None:
        raise ValueError(f"unknown key {key!r}; use e.g. 'D minor', 'F major' or 'E dorian'")
    acc = (m.group(2) or "").replace("-", "").replace(" ", "").lower()
    acc = {"sharp": "#", "flat": "b", "#": "#", "b": "b", "": ""}[acc]
    name = m.group(1).upper() + acc
    if name not in PITCH_CLASSES:  # E#, Fb, B#, Cb: spell as the piano key
        raise ValueError(f"unknown key {key!r}; use e.g. 'D minor', 'F major' or 'E dorian'")
    return f"{name} {mode}"


def parse_key(key: str) -> tuple[int, str]:
    """``"D minor"`` -> (2, "minor"), ``"E dorian"`` -> (4, "dorian"); any spelling :func:`normalize_key` reads."""
    name, mode = normalize_key(key).split()
    return PITCH_CLASSES[name], mode


def mode_family(mode: str) -> str:
    """``"major"`` or ``"minor"``: the family of a mode (:data:`MODE_FAMILY`)."""
    return MODE_FAMILY[mode]


def signature_tonic(tonic_pc: int, mode: str) -> tuple[int, str]:
    """The major or minor key whose signature a modal key is written with (its parent scale, in
    the mode's family): ``(2, "dorian")`` (D dorian, no sharps or flats) -> ``(9, "minor")`` (A minor);
    major and minor keys are their own."""
    if mode in ("major", "minor"):
        return tonic_pc % 12, mode
    # the tonic of the parent major scale is the mode's tonic minus its degree in that scale
    offset = {"dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7}[mode]
    parent_major = (tonic_pc - offset) % 12
    return (parent_major, "major") if MODE_FAMILY[mode] == "major" else ((parent_major + 9) % 12, "minor")


def chord_pitches(tonic_pc: int, mode: str, degree: int) -> list[int]:
    """Triad (pitch classes, root first) on a scale degree of any mode in :data:`SCALES`; in minor,
    V is major (raised 7th)."""
    scale = SCALES[mode]
    pcs = [(tonic_pc + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]
    if mode == "minor" and degree == 4:
        pcs[1] = (tonic_pc + 11) % 12
    return pcs


@dataclass(frozen=True)
class Chord:
    """A chord as a musician names it: its pitch classes, root first, and the pitch class in the bass
    (an inversion when it is not the root).

    ``degree`` is the scale degree (0..6) of the root in the cue's key when it has one (the melody
    generator is conditioned on it), ``label`` the Roman numeral (``"V7"``, ``"ii6"``, ``"bVI"``).
    """

    pcs: tuple[int, ...]
    bass: int | None = None
    degree: int | None = None
    label: str = ""

    @property
    def root(self) -> int:
        return self.pcs[0]

    @property
    def bass_pc(self) -> int:
        return self.root if self.bass is None else self.bass

    @classmethod
    def of_degree(cls, tonic_pc: int, mode: str, degree: int) -> Chord:
        """The diatonic triad on ``degree`` of the key (:func:`chord_pitches`)."""
        return cls(tuple(chord_pitches(tonic_pc, mode, degree)), degree=degree)


def nearest(pc: int, around: int) -> int:
    """MIDI pitch with pitch class ``pc`` nearest to ``around``."""
    base = around - ((around - pc) % 12)
    return base if around - base <= 6 else base + 12


def fit_range(pitch: int, program: int) -> int:
    """Move a pitch by octaves into the instrument's range."""
    lo, hi = RANGES.get(program, (24, 108))
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return pitch


def scale_degree(pitch: int, tonic_pc: int, mode: str) -> tuple[int, int]:
    """(octave, degree 0..6) of the scale note nearest to ``pitch``."""
    rel = pitch - tonic_pc
    octave, pc = divmod(rel, 12)
    scale = SCALES[mode]
    deg = min(range(7), key=lambda d: min(abs(scale[d] - pc), 12 - abs(scale[d] - pc)))
    if pc > 9 and scale[deg] < 3:  # the nearest scale note is in the next octave
        octave += 1
    return octave, deg


def degree_pitch(octave: int, degree: int, tonic_pc: int, mode: str) -> int:
    o, d = divmod(degree, 7)
    return tonic_pc + 12 * (octave + o) + SCALES[mode][d]


#: Chord templates: intervals above the root (the chord tokens' second part, ``"7:dom7"``).
TEMPLATES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "aug": (0, 4, 8), "dom7": (0, 4, 7, 10),
             "min7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11), "hdim7": (0, 3, 6, 10), "dim7": (0, 3, 6, 9)}
_UPPER = {"maj", "aug", "dom7", "maj7"}
_SUFFIX = {"maj": "", "min": "", "dim": "o", "aug": "+", "dom7": "7", "min7": "7", "maj7": "M7", "hdim7": "ø7",
           "dim7": "o7"}
_FIGURES = {3: ("", "6", "64"), 4: ("7", "65", "43", "42")}
#: Roman numerals by the root's interval above the tonic, in each family (minor: the natural
#: minor's degrees; the leading tone, 11, is "vii").
_NUMERALS = {"major": ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII"),
             "minor": ("I", "bII", "II", "III", "#III", "IV", "#IV", "V", "VI", "#VI", "VII", "VII")}


def chord_label(token: str, mode: str, inversion: int = 0) -> str:
    """The Roman numeral of a chord token in a key of ``mode``: ``"7:dom7"`` -> ``"V7"``,
    ``("7:dom7", inversion 1)`` -> ``"V65"``, ``"2:maj"`` in major -> ``"V/V"``, ``"8:maj"`` in
    major -> ``"bVI"``, ``"11:dim7"`` -> ``"viio7"``."""
    root_s, quality = token.split(":")
    root = int(root_s)
    scale = SCALES[mode]
    fam = MODE_FAMILY[mode]
    chromatic = any((root + i) % 12 not in scale for i in TEMPLATES[quality])
    if chromatic and (root != 0 or quality == "dom7"):  # a secondary function? (a major tonic in minor is not)
        target = (root + 5) % 12  # a secondary dominant: a fifth above its target
        if quality in ("maj", "dom7") and target in scale and target != 0:
            return f"{_with_figure('V', quality, inversion)}/{_plain_numeral(target, mode)}"
        target = (root + 1) % 12  # a secondary leading-tone chord: a semitone under it
        if quality in ("dim", "dim7", "hdim7") and target in scale and target != 0:
            return f"{_with_figure('vii', quality, inversion)}/{_plain_numeral(target, mode)}"
    numeral = _NUMERALS[fam][root]
    if fam == "minor" and root == 11 and quality in _UPPER:
        numeral = "#VII"
    return _with_figure(numeral if quality in _UPPER else numeral.lower(), quality, inversion)


def _with_figure(numeral: str, quality: str, inversion: int) -> str:
    """Numeral, quality sign and inversion figure: ``"V"`` + dom7 + 1 -> ``"V65"``."""
    suffix = _SUFFIX[quality]
    fig = _figure(quality, inversion)
    if fig and suffix.endswith("7"):
        suffix = suffix[:-1]  # "V7" in first inversion is "V65"
    return numeral + suffix + fig


def _figure(quality: str, inversion: int) -> str:
    figs = _FIGURES[len(TEMPLATES[quality])]
    return figs[inversion] if inversion < len(figs) and inversion else ""


def _plain_numeral(root: int, mode: str) -> str:
    """The numeral of the diatonic triad on ``root`` (an interval above the tonic in ``mode``'s scale)."""
    scale = SCALES[mode]
    d = scale.index(root)
    third = (scale[(d + 2) % 7] - root) % 12
    numeral = _NUMERALS[MODE_FAMILY[mode]][root]
    return numeral if third == 4 else numeral.lower()


def chord_of_token(token: str, tonic_pc: int, mode: str, inversion: int = 0) -> Chord:
    """The :class:`Chord` a token names in a key: pitch classes root first, the bass of its
    inversion, the root's scale degree in the key's mode (None when it is not in the scale) and
    its Roman numeral."""
    root_s, quality = token.split(":")
    root = int(root_s)
    iv = TEMPLATES[quality]
    pcs = tuple((tonic_pc + root + i) % 12 for i in iv)
    inversion = inversion if 0 <= inversion < len(iv) else 0
    scale = SCALES[mode]
    degree = scale.index(root) if root in scale else None
    return Chord(pcs, bass=pcs[inversion] if inversion else None, degree=degree,
                 label=chord_label(token, mode, inversion))


def family_maps(tonic_pc: int, mode: str) -> tuple[dict[int, int], dict[int, int]]:
    """Pitch-class maps between a modal scale and its family's (major or natural minor) scale, degree
    for degree: ``(to_family, to_mode)``; only the degrees that differ are in them (D dorian:
    B -> Bb, and back). Empty for major and minor keys. The melody model writes in the family's
    scale; its notes are moved onto the mode's scale by ``to_mode``."""
    fam = SCALES[MODE_FAMILY[mode]]
    own = SCALES[mode]
    to_family = {(tonic_pc + a) % 12: (tonic_pc + b) % 12 for a, b in zip(own, fam) if a != b}
    return to_family, {b: a for a, b in to_family.items()}


def move_pitch(pitch: int, pc_map: dict[int, int]) -> int:
    """A MIDI pitch moved by ``pc_map`` (:func:`family_maps`) to the nearest pitch of its new class."""
    pc = pitch % 12
    if pc not in pc_map:
        return pitch
    return pitch + ((pc_map[pc] - pc + 6) % 12 - 6)
