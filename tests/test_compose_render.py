"""compose -> MIDI -> soundfont audio: reproducible notes, tempo map in the MIDI, loudness on target."""

import dataclasses
import wave

import mido
import numpy as np
import pretty_midi
import pytest
from tempscore.harmony import SCALES, parse_key
from tempscore.models import COMPOSER_ID, compose
from tempscore.render import RenderSettings, render_audio
from tempscore.render.midi import TICKS_PER_BEAT, write_midi
from tempscore.render.mix import integrated_lufs, true_peak_dbtp, write_wav
from tempscore.scoring import plan
from tempscore.scoring.tempo import TempoMap
from tempscore.vision import analyze


@pytest.fixture(scope="module")
def timeline(clip_contrast):
    return plan(analyze(clip_contrast.path))


def test_compose_is_seeded_and_stays_inside_cues(timeline):
    a, b, c = compose(timeline, seed=1), compose(timeline, seed=1), compose(timeline, seed=2)
    for other in (a, b, c, compose(timeline, seed=1, composer="rules")):
        for part in other.parts:
            for n in part.notes:
                assert n.end_sec > n.start_sec
    assert a == b
    assert a != c
    assert a.composer == "transformer:v1+arranger:v1"
    rules = compose(timeline, seed=1, composer="rules")
    assert rules.composer == COMPOSER_ID == "rule-based:v1" and rules != a
    for part in a.parts:
        for n in part.notes:
            assert 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127
            assert n.end_sec > n.start_sec
            cue = next(q for q in timeline.cues if q.start_sec - 1e-6 <= n.start_sec < q.end_sec)
            assert n.end_sec <= cue.end_sec + 1e-6


def test_edited_key_is_followed(timeline):
    """A key set by hand is the key heard: the Krumhansl-Kessler estimate of all the pitched notes
    (by sounding time) is that key, and all but the chromatic colour of secondary chords (under
    15 % of the sounding time) is in its scale with the raised 6th and 7th of minor."""
    from tempscore.models.train_harmony import KK_MAJOR, KK_MINOR

    tl = dataclasses.replace(timeline, cues=[dataclasses.replace(c, key="A minor", mood="sombre") for c in timeline.cues])
    score = compose(tl, seed=0)
    tonic, mode = parse_key("A minor")
    allowed = {(tonic + s) % 12 for s in SCALES[mode]} | {(tonic + 9) % 12, (tonic + 11) % 12}
    w = np.zeros(12)
    for p in score.parts:
        for n in p.notes if not p.is_drum else []:
            w[n.pitch % 12] += n.end_sec - n.start_sec
    assert w.sum() > 0 and w[sorted(allowed)].sum() / w.sum() > 0.85
    fits = {(k, m): np.corrcoef(w, np.roll(prof, k))[0, 1] for k in range(12) for m, prof in (("major", KK_MAJOR),
                                                                                               ("minor", KK_MINOR))}
    assert max(fits, key=fits.get) == (tonic, "minor")


def test_midi_has_tempo_map_markers_and_named_tracks(timeline, tmp_path):
    score = compose(timeline, seed=0)
    path = write_midi(score, tmp_path / "s.score.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    times, tempi = pm.get_tempo_changes()
    # a tempo change at each cue start whose tempo differs from the previous cue's
    tm = timeline.tempo_map
    changes = [e for i, e in enumerate(tm) if i == 0 or e.bpm != tm[i - 1].bpm]
    assert np.allclose(times, [e.time_sec for e in changes], atol=1e-3)
    assert np.allclose(tempi, [e.bpm for e in changes], atol=0.01)
    assert len({c.tempo_bpm for c in timeline.cues}) >= 2  # the contrast clip has cues at different tempi
    for cue in timeline.cues:
        assert np.min(np.abs(times - cue.start_sec)) < 1e-3 or cue.start_sec == 0
    # MIDI ticks <-> seconds agree with our tempo map
    tmap = TempoMap(timeline.tempo_map)
    for t in np.linspace(0, timeline.video.duration_sec - 0.01, 25):
        assert pm.time_to_tick(t) == pytest.approx(tmap.time_to_beats(t) * TICKS_PER_BEAT, abs=1.01)
    from tempscore.models.arranger import layer_of

    layers = {layer_of(i.name, is_drum=i.is_drum) for i in pm.instruments}
    assert "Melody" in layers and layers & {"Pad", "Chorale", "Tremolo", "Drone"}  # every cue has a sustained bed
    mid = mido.MidiFile(str(path))
    markers = [m.text for m in mid.tracks[0] if m.type == "marker"]
    assert any(t.startswith(timeline.cues[0].id) for t in markers)
    texts = [m.text for m in mid.tracks[0] if m.type == "text"]
    assert any(score.composer in t for t in texts)
    # notes survive the round trip
    assert sum(len(i.notes) for i in pm.instruments) == sum(len(p.notes) for p in score.parts)


def test_render_length_loudness_and_peak(timeline, tmp_path):
    mid = write_midi(compose(timeline, seed=0), tmp_path / "s.score.mid")
    res = render_audio(mid, timeline, settings=RenderSettings(sr=48000, target_lufs=-20.0))
    n = round(timeline.video.duration_sec * 48000)
    assert res.music.shape == (n, 2)
    assert np.abs(res.music).max() > 0.01
    assert integrated_lufs(res.music, sr=48000) == pytest.approx(-20.0, abs=0.5)
    assert true_peak_dbtp(res.music) <= -1.0 + 1e-6
    assert res.mix is not None and res.mix.shape == res.music.shape  # clip has production audio
    wav = write_wav(tmp_path / "m.wav", res.music, sr=48000)
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 3, 48000, n)


def test_true_peak_catches_intersample_peaks():
    sr = 48000
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * sr / 4 * t + np.pi / 4)  # samples at +-0.707 of a full-scale sine
    assert np.abs(x).max() == pytest.approx(0.7071, abs=1e-3)
    assert true_peak_dbtp(x) == pytest.approx(0.0, abs=0.3)


def test_accented_hits_are_on_the_frame_and_no_cue_copies_the_corpus(timeline, tmp_path):
    """About one hit a bar is accented (the arranger says which); each has an accent note within a frame
    in the MIDI file; every hit is either accented or shares its bar with one that is."""
    from tempscore.models.arranger import layer_of

    score = compose(timeline, seed=3)
    path = write_midi(score, tmp_path / "a.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    accent_layers = {"Accents", "Timpani", "Percussion", "Melody accents"}
    onsets = np.array([n.start for i in pm.instruments if layer_of(i.name, is_drum=i.is_drum) in accent_layers
                       for n in i.notes])
    fps = timeline.video.fps_num / timeline.video.fps_den
    assert timeline.hit_points
    accented = {f for rep in score.report.values() for f in rep.get("accented_hits", [])}
    assert accented
    for h in timeline.hit_points:
        if h.frame in accented:
            assert np.min(np.abs(onsets - h.time_sec)) * fps <= 1.0
        else:
            assert any(a.cue_id == h.cue_id and a.bar == h.bar for a in timeline.hit_points if a.frame in accented)
    for cue_id, rep in score.report.items():
        assert rep["longest_shared_interval_ngram"] < 12, cue_id
    again = write_midi(compose(timeline, seed=3), tmp_path / "b.mid")
    assert path.read_bytes() == again.read_bytes()  # same seed and inputs: byte-identical MIDI


def test_track_names_follow_the_instruments_not_the_cue_order():
    """Track names are the layer and its instrument, whichever cue came first and whatever else
    plays: an edit elsewhere never renames a track; a layer that changes instrument has a track per
    instrument."""
    from tempscore.models.arranger import Orchestra, layer_of

    def names(first: int, second: int) -> list[str]:
        orch = Orchestra()
        orch.add("Melody", first, 0.0, 1.0, 72, 80)
        orch.add("Melody", second, 2.0, 3.0, 74, 80)
        orch.add("Contrabass", 43, 0.0, 3.0, 36, 70)
        orch.add("Percussion", 0, 0.5, 0.6, 38, 90, drum=True)
        return sorted(orch.parts)

    assert names(73, 40) == names(40, 73) == ["Contrabass", "Melody (Flute)", "Melody (Violin)", "Percussion"]
    assert names(73, 73) == ["Contrabass", "Melody (Flute)", "Percussion"]  # (the GM name "Contrabass" is not repeated)
    assert [layer_of(n) for n in ("Strings (pad) (String Ensemble 1)", "Melody (Flute)", "Contrabass")] == [
        "Strings (pad)", "Melody", "Contrabass"]
    orch = Orchestra()
    orch.add("Melody", 73, 0.0, 1.0, 72, 80)
    orch.add("Melody", 40, 2.0, 3.0, 74, 80)
    assert [len(p.notes) for p in orch.parts.values()] == [1, 1]
