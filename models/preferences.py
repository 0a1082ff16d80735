"""The user's taste, learned from ratings: ``tempscore rate CUE 1..5``.

Ratings are stored with the project in ``<stem>.ratings.json`` (beside ``timeline.json``): one
row per rating with a snapshot of what the cue was (mood, key, tempo, intensity, the melody's
density band and register, seed). They steer later generation in three ways, each reported:

- a cue rated 4 or 5 is *kept*: its seed is pinned in ``timeline.json`` (like ``pick``) and no
  preference shift is applied to it, so re-plans and re-composes leave it as it is;
- a cue rated 1 or 2 is *re-drawn*: it gets a new seed, so the next compose writes a new take;
- every other cue (not locked, not rated 4-5) is nudged toward the liked settings: for density
  band (0..3) and register (low/mid/high) the preference is the rating-weighted mean offset of the
  rated cues from the middle of the scale, ``P = sum(w_i * (x_i - mid)) / sum(|w_i|)`` with
  ``w = stars - 3``; the shift applied is ``round(2/3 * P)`` limited to one step. So liking busy
  cues makes the others busier, disliking high melodies brings the others down.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadStageFile, InvalidSettings

log = logging.getLogger(__name__)

RATINGS_SCHEMA = "tempscore.ratings/1"
REGISTERS = ("low", "mid", "high")
REROLL_SEED_STEP = 7919


@dataclass
class Preferences:
    """Shifts for the cues the ratings do not pin (density bands and register steps)."""

    density_shift: int = 0
    register_shift: int = 0
    kept: list[str] = field(default_factory=list)  # cue ids rated 4-5: left as they are
    ratings: int = 0
    density_pref: float = 0.0
    register_pref: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if not self.ratings:
            return "no ratings yet"
        bits = []
        for name, shift, words in (("density", self.density_shift, ("sparser", "busier")),
                                   ("register", self.register_shift, ("lower", "higher"))):
            if shift:
                bits.append(f"{name} {shift:+d} ({words[shift > 0]})")
        return (f"{self.ratings} rating(s): " + (", ".join(bits) if bits else "no shift (no clear preference yet)")
                + (f"; kept as liked: {', '.join(self.kept)}" if self.kept else ""))


def load_ratings(path: Path) -> list[dict]:
    """Rows of ``<stem>.ratings.json`` (empty when there is none). A broken file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadStageFile(f"{path}: not a readable ratings file ({exc}); fix or delete it") from exc
    if not isinstance(doc, dict) or doc.get("schema") != RATINGS_SCHEMA or not isinstance(doc.get("ratings"), list):
        raise BadStageFile(f"{path}: not a {RATINGS_SCHEMA} file; fix or delete it")
    rows = []
    for i, r in enumerate(doc["ratings"]):
        if not isinstance(r, dict) or not isinstance(r.get("stars"), int) or not 1 <= r["stars"] <= 5:
            raise BadStageFile(f"{path}: ratings[{i}].stars must be an integer 1..5; fix or delete it")
        rows.append(r)
    return rows


def latest_per_cue(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in rows:
        out[str(r.get("cue_id"))] = r
    return out


def preferences_from(rows: list[dict]) -> Preferences:
    """The shifts the ratings ask for (the latest rating of each cue counts)."""
    latest = latest_per_cue(rows)
    if not latest:
        return Preferences()
    w = np.array([r["stars"] - 3 for r in latest.values()], float)
    dens = np.array([float(r.get("density_band", 1.5)) for r in latest.values()])
    reg = np.array([float(REGISTERS.index(r["register"])) if r.get("register") in REGISTERS else 1.0
                    for r in latest.values()])
    norm = float(np.abs(w).sum())
    p_dens = float((w * (dens - 1.5)).sum() / norm) if norm else 0.0
    p_reg = float((w * (reg - 1.0)).sum() / norm) if norm else 0.0
    shift = lambda p: int(np.clip(np.round(2.0 / 3.0 * p), -1, 1))  # noqa: E731
    return Preferences(density_shift=shift(p_dens), register_shift=shift(p_reg),
                       kept=sorted(k for k, r in latest.items() if r["stars"] >= 4), ratings=len(latest),
                       density_pref=round(p_dens, 3), register_pref=round(p_reg, 3))


def shift_register(reg: str, steps: int) -> str:
    if reg not in REGISTERS or not steps:
        return reg
    return REGISTERS[int(np.clip(REGISTERS.index(reg) + steps, 0, len(REGISTERS) - 1))]


def add_rating(path: Path, row: dict) -> list[dict]:
    """Append a rating row (with a timestamp) and write the file atomically."""
    from ..fileio import write_text_atomic

    if not isinstance(row.get("stars"), int) or not 1 <= row["stars"] <= 5:
        raise InvalidSettings(f"rating {row.get('stars')!r}: give 1..5 stars")
    rows = load_ratings(path) + [{**row, "rated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
    write_text_atomic(Path(path), json.dumps({"schema": RATINGS_SCHEMA, "ratings": rows}, indent=1))
    return rows
