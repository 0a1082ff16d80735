"""Soundfont synthesis of a MIDI file to stereo audio (TinySoundFont + a General MIDI soundfont)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import BadStageFile, ToolMissing

log = logging.getLogger(__name__)


def default_soundfont() -> Path:
    """``$TEMPSCORE_SOUNDFONT``, else the TimGM6mb General MIDI soundfont shipped inside pretty_midi."""
    env = os.environ.get("TEMPSCORE_SOUNDFONT")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ToolMissing(f"TEMPSCORE_SOUNDFONT={env}: no such file; point it at a .sf2 soundfont")
        return p
    import pretty_midi

    p = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not p.is_file():
        raise ToolMissing("no soundfont found (pretty_midi's TimGM6mb.sf2 is missing); set TEMPSCORE_SOUNDFONT")
    return p


def synthesize_midi(
    midi_path: Path,
    *,
    sr: int = 48000,
    duration_sec: float | None = None,
    soundfont: Path | None = None,
    block: int = 512,
) -> np.ndarray:
    """Render a MIDI file to audio with a soundfont.

    Parameters
    ----------
    midi_path : Path
        Standard MIDI file (tempo map honoured via pretty_midi).
    sr : int
        Sample rate in Hz.
    duration_sec : float, optional
        Exact output length; default: the last note end + 2 s of release.
    soundfont : Path, optional
        .sf2 file; default :func:`default_soundfont`.

    Returns
    -------
    np.ndarray, shape (n_samples, 2), float32
        Stereo audio, unnormalised.
    """
    import pretty_midi

    try:
        import tinysoundfont
    except ImportError as exc:
        raise ToolMissing("tinysoundfont is not installed; run `pip install --no-deps tinysoundfont` (or `make setup`)") from exc
    try:
        pm = pretty_midi.PrettyMIDI(str(midi_path))
    except (OSError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise BadStageFile(f"{midi_path}: not a readable MIDI file ({exc}); re-run compose") from exc
    sf = Path(soundfont) if soundfont else default_soundfont()
    synth = tinysoundfont.Synth(samplerate=sr, gain=-6.0)
    sfid = synth.sfload(str(sf))
    events: list[tuple[int, int, int, int, int]] = []  # (sample, order, chan, key, vel) order 0=off 1=on
    channels = [c for c in range(16) if c != 9]
    used: dict[int, int] = {}
    for inst in pm.instruments:
        if inst.is_drum:
            ch = 9
        elif inst.program in used:
            ch = used[inst.program]
        else:
            ch = channels[len(used) % len(channels)]
            used[inst.program] = ch
        try:
            synth.program_select(ch, sfid, 128 if inst.is_drum else 0, 0 if inst.is_drum else inst.program,
                                 is_drums=inst.is_drum)
        except RuntimeError:
            synth.program_select(ch, sfid, 0, 0)
            log.warning("soundfont %s lacks program %d; using piano", sf.name, inst.program)
        for n in inst.notes:
            events.append((int(round(n.start * sr)), 1, ch, n.pitch, n.velocity))
            events.append((max(int(round(n.end * sr)), int(round(n.start * sr)) + 1), 0, ch, n.pitch, 0))
    events.sort()
    end_note = max((e[0] for e in events), default=0)
    total = int(round(duration_sec * sr)) if duration_sec is not None else end_note + 2 * sr
    out = np.zeros((total, 2), np.float32)
    pos = 0

    def run_to(target: int) -> None:
        nonlocal pos
        while pos < min(target, total):
            n = min(block * 16, min(target, total) - pos)
            buf = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(-1, 2)
            out[pos : pos + len(buf)] = buf[: total - pos]
            pos += len(buf)

    for sample, kind, ch, key, vel in events:
        if sample >= total:
            break
        run_to(sample)
        if kind:
            synth.noteon(ch, key, vel)
        else:
            synth.noteoff(ch, key)
    run_to(total)
    return out
