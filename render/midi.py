"""Standard MIDI file with the full tempo map, meters, cue/hit markers and one track per instrument."""

from __future__ import annotations

from pathlib import Path

from ..contracts import Score
from ..fileio import atomic_path
from ..scoring.tempo import TempoMap

TICKS_PER_BEAT = 960


def score_to_midi(score: Score, *, ticks_per_beat: int = TICKS_PER_BEAT):  # noqa: ANN201 - mido.MidiFile
    """Build a type-1 :class:`mido.MidiFile` from a :class:`Score`.

    Track 0 (conductor) holds the tempo and time-signature changes of the tempo map, cue and hit
    markers, and a text event naming the composer. Then one named track per part, each on its
    own channel (drums on channel 10), with a program change.
    """
    import mido

    tmap = TempoMap([type(e)(**vars(e)) for e in score.tempo_map])
    tick = lambda t: int(round(tmap.time_to_beats(t) * ticks_per_beat))  # noqa: E731
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)

    def track_from(events: list[tuple[int, int, object]], name: str) -> mido.MidiTrack:
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        now = 0
        for abs_tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            tr.append(msg.copy(time=abs_tick - now))  # type: ignore[attr-defined]
            now = abs_tick
        tr.append(mido.MetaMessage("end_of_track", time=0))
        return tr

    conductor: list[tuple[int, int, object]] = [
        (0, 0, mido.MetaMessage("text", text=f"tempscore score, composer: {score.composer}, seed {score.seed}")),
    ]
    prev = None
    for e in tmap.events:
        t = tick(e.time_sec)
        if prev is None or prev.bpm != e.bpm:
            conductor.append((t, 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(e.bpm))))
        if e.bar_line and (prev is None or prev.beats_per_bar != e.beats_per_bar):
            conductor.append((t, 1, mido.MetaMessage("time_signature", numerator=e.beats_per_bar, denominator=4)))
        prev = e
    for m in score.markers:
        conductor.append((tick(m.time_sec), 2, mido.MetaMessage("marker", text=m.text)))
    mid.tracks.append(track_from(conductor, "tempscore conductor"))

    channels = [c for c in range(16) if c != 9]
    for i, part in enumerate(score.parts):
        ch = 9 if part.is_drum else channels[i % len(channels)]
        ev: list[tuple[int, int, object]] = [(0, 0, mido.Message("program_change", channel=ch, program=part.program))]
        for n in part.notes:
            a, b = tick(n.start_sec), max(tick(n.end_sec), tick(n.start_sec) + 1)
            ev.append((a, 2, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
            ev.append((b, 1, mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)))
        mid.tracks.append(track_from(ev, part.name))
    return mid


def write_midi(score: Score, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Write the score as a Standard MIDI File, atomically."""
    mid = score_to_midi(score)
    with atomic_path(Path(path), protect=protect) as tmp:
        mid.save(str(tmp))
    return Path(path)
