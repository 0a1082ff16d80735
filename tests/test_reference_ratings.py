"""--reference (tempo, key, loudness, brightness measured with librosa/pyloudnorm, followed by the
plan, composer and render) and `tempscore rate` (ratings stored with the project, steering later
generation)."""

import json

import numpy as np
import pretty_midi
import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.models.preferences import preferences_from
from tempscore.scoring.reference import (
    KK_MAJOR,
    KK_MINOR,
    MIN_BEAT_SALIENCE,
    MIN_KEY_CONFIDENCE,
    MIN_PULSE_CLARITY,
    analyze_reference,
    estimate_key,
    fold_tempo,
    follow_reference,
    relative_keys,
)


def _music(path, *, bpm: float, tonic: int, mode: str, bars: int = 16):
    """A real rendered track (TinySoundFont): chords, bass, a melody and a drum beat at a known
    tempo in a known key."""
    from tempscore.render.mix import write_wav
    from tempscore.render.synth import synthesize_midi

    beat = 60.0 / bpm
    scale = [0, 2, 3, 5, 7, 8, 10] if mode == "minor" else [0, 2, 4, 5, 7, 9, 11]
    prog = [0, 5, 3, 4] if mode == "minor" else [0, 3, 4, 0]
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    pad, bass, mel = pretty_midi.Instrument(48), pretty_midi.Instrument(32), pretty_midi.Instrument(73)
    drums = pretty_midi.Instrument(0, is_drum=True)
    rng = np.random.default_rng(0)
    for bar in range(bars):
        deg, t0 = prog[bar % 4], bar * 4 * beat
        chord = [scale[(deg + k) % 7] for k in (0, 2, 4)]
        if mode == "minor" and deg == 4:
            chord[1] = 11  # V is major in minor (the leading tone), as in real minor-key music
        for c in chord:
            pitch = 48 + (tonic + c) % 12  # C3..B3, moved up an octave below G3
            pad.notes.append(pretty_midi.Note(70, pitch + 12 if pitch < 55 else pitch, t0, t0 + 4 * beat))
        for b in range(4):
            tb = t0 + b * beat
            bass.notes.append(pretty_midi.Note(90, 36 + tonic + chord[0], tb, tb + 0.9 * beat))
            drums.notes.append(pretty_midi.Note(100, 36 if b % 2 == 0 else 38, tb, tb + 0.1))
            drums.notes.append(pretty_midi.Note(70, 42, tb + 0.5 * beat, tb + 0.5 * beat + 0.05))
            p = 72 + tonic + (scale[int(rng.integers(0, 7))] if b % 2 else chord[b % 3])
            mel.notes.append(pretty_midi.Note(85, p, tb, tb + 0.8 * beat))
    pm.instruments += [pad, bass, mel, drums]
    mid = path.with_suffix(".mid")
    pm.write(str(mid))
    audio = synthesize_midi(mid, sr=48000)
    write_wav(path, audio / np.abs(audio).max() * 0.5, sr=48000)
    return path


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("refs")
    return {"am96": _music(d / "a_minor_96.wav", bpm=96, tonic=9, mode="minor"),
            "d128": _music(d / "d_major_128.wav", bpm=128, tonic=2, mode="major")}


@pytest.mark.parametrize("name,bpm,key", [("am96", 96, "A minor"), ("d128", 128, "D major")])
def test_reference_tempo_and_key_are_measured(refs, name, bpm, key):
    r = analyze_reference(refs[name])
    octave = r.tempo_bpm / bpm
    assert min(abs(octave - k) for k in (0.5, 1.0, 2.0)) <= 0.03 * max(octave, 1), r
    assert r.key == key and r.key_confidence >= MIN_KEY_CONFIDENCE and r.tempo_confidence >= MIN_PULSE_CLARITY
    assert r.beat_salience >= MIN_BEAT_SALIENCE
    assert -40 < r.loudness_lufs < -5 and 200 < r.brightness_hz < 8000
    follows = follow_reference(r.to_dict())
    assert follows["tempo_bpm"] == r.tempo_bpm and follows["keys"] is not None and follows["not_followed"] == []


def _drone(path, *, seconds: float = 12.0):
    """Held chords with no attack after the first (an ambient pad): a key, but no beat."""
    from tempscore.render.mix import write_wav
    from tempscore.render.synth import synthesize_midi

    pm = pretty_midi.PrettyMIDI()
    pad = pretty_midi.Instrument(48)
    for p in (52, 59, 64, 68):  # E major, held
        pad.notes.append(pretty_midi.Note(80, p, 0.0, seconds))
    pm.instruments.append(pad)
    pm.write(str(path.with_suffix(".mid")))
    audio = synthesize_midi(path.with_suffix(".mid"), sr=48000)
    write_wav(path, audio / np.abs(audio).max() * 0.5, sr=48000)
    return path


def test_a_reference_without_a_beat_or_a_key_is_not_followed_there(tmp_path):
    """A pad has no tempo to follow and a lone tone no key: they are measured, shown, and left out
    (the cut rate sets the tempo, the usual keys stay), each with its reason; a very quiet reference
    sets the music no quieter than -31 LUFS."""
    from tempscore.render.mix import write_wav

    drone = analyze_reference(_drone(tmp_path / "pad.wav"))
    assert drone.tempo_confidence < MIN_PULSE_CLARITY or drone.beat_salience < MIN_BEAT_SALIENCE
    f = follow_reference(drone.to_dict())
    assert f["tempo_bpm"] is None and f["keys"] is not None and len(f["not_followed"]) == 1
    assert "no steady beat" in f["not_followed"][0]
    t = np.arange(12 * 48000) / 48000
    tone = tmp_path / "tone.wav"
    write_wav(tone, np.repeat((0.02 * np.sin(2 * np.pi * 440 * t))[:, None], 2, axis=1).astype(np.float32), sr=48000)
    r = analyze_reference(tone)
    assert r.key_confidence < MIN_KEY_CONFIDENCE and r.loudness_lufs < -31
    f = follow_reference(r.to_dict())
    assert f["tempo_bpm"] is None and f["keys"] is None and f["music_lufs"] == -31.0
    assert [line.split(":")[0] for line in f["not_followed"]] == [
        f"tempo {r.tempo_bpm:.1f} BPM", f"key {r.key}", f"loudness {r.loudness_lufs:.1f} LUFS"]
    # a reference measured before the confidences were kept is followed as it was
    old = {k: v for k, v in drone.to_dict().items() if k not in ("tempo_confidence", "beat_salience")}
    assert follow_reference(old)["tempo_bpm"] == drone.tempo_bpm


def test_key_profiles_find_their_own_key():
    for tonic in range(12):
        major, minor = estimate_key(np.roll(KK_MAJOR, tonic))[0], estimate_key(np.roll(KK_MINOR, tonic))[0]
        assert major.endswith("major") and minor.endswith("minor")
        assert relative_keys(minor)[1] == minor and relative_keys(major)[0] == major
    assert relative_keys("A minor") == ("C major", "A minor") and relative_keys("Eb major") == ("Eb major", "C minor")
    # spelled as key signatures are: E major's relative is C# minor (not Db minor), and one family for six
    assert relative_keys("E major") == ("E major", "C# minor") and relative_keys("G# minor") == ("B major", "G# minor")
    assert relative_keys("F# major") == ("F# major", "D# minor") and relative_keys("Eb minor") == ("Gb major", "Eb minor")
    assert estimate_key(np.roll(KK_MINOR, 1))[0] == "C# minor" and estimate_key(np.roll(KK_MAJOR, 8))[0] == "Ab major"


@settings(max_examples=200, deadline=None)
@given(t=st.floats(10, 400), lo=st.floats(40, 120), width=st.floats(10, 150))
def test_fold_tempo_stays_in_range_and_keeps_the_pulse(t, lo, width):
    hi = lo + width
    f = fold_tempo(t, bpm_min=lo, bpm_max=hi)
    assert lo - 1e-9 <= f <= hi + 1e-9
    if hi >= 2 * lo:  # an octave always fits: the reference's pulse is kept (t * 2^k)
        k = np.log2(f / t)
        assert abs(k - round(k)) < 1e-9


def test_bad_references_are_one_line_errors(tmp_path, clip_contrast):
    out = tmp_path / "o"
    assert run_cli("analyze", clip_contrast.path, "-o", out).returncode == 0
    an = out / "contrast.analysis.json"
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    short = tmp_path / "short.wav"
    from tempscore.render.mix import write_wav

    write_wav(short, np.zeros((48000, 2), np.float32), sr=48000)
    silent, hum = tmp_path / "silent.wav", tmp_path / "hum.wav"  # once: the score rendered at -70 LUFS
    write_wav(silent, np.zeros((10 * 48000, 2), np.float32), sr=48000)
    t = np.arange(10 * 48000) / 48000
    write_wav(hum, np.repeat((1e-4 * np.sin(2 * np.pi * 50 * t))[:, None], 2, axis=1).astype(np.float32), sr=48000)
    for bad, words in ((tmp_path / "missing.wav", "not found"), (text, "not a readable audio file"),
                       (short, "at least"), (silent, "digital silence"), (hum, "is silent or nearly")):
        r = run_cli("plan", an, "--reference", bad)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_plan_compose_render_follow_the_reference(tmp_path, clip_contrast, refs):
    out = tmp_path / "o"
    assert run_cli("analyze", clip_contrast.path, "-o", out).returncode == 0
    an = out / "contrast.analysis.json"
    r = run_cli("plan", an, "--reference", refs["am96"], "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)["reference"]
    assert summary["key"] == "A minor" and summary["score_follows"]["keys"] == {"major": "C major", "minor": "A minor"}
    tl = json.loads((out / "contrast.timeline.json").read_text())
    ref_bpm = tl["settings"]["reference"]["tempo_bpm"]
    for c in tl["cues"]:
        assert c["key"] in ("C major", "A minor")
        assert c["why"]["target_bpm"] == pytest.approx(fold_tempo(ref_bpm, bpm_min=60, bpm_max=140), abs=0.01)
        assert abs(c["tempo_bpm"] / c["why"]["target_bpm"] - 1) <= 0.15 + 1e-6 or c["why"]["ramps"] >= 0
    assert run_cli("plan", an).returncode == 0  # a plain re-plan keeps the reference
    again = json.loads((out / "contrast.timeline.json").read_text())
    assert again["settings"]["reference"]["key"] == "A minor"
    r = run_cli("compose", out / "contrast.timeline.json", "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli("render", out / "contrast.score.mid", "--json")
    assert r.returncode == 0, r.stderr
    rendered = json.loads(r.stdout)
    want = min(-14.0, tl["settings"]["reference"]["loudness_lufs"])
    assert rendered["target_lufs"] == pytest.approx(want, abs=0.05)
    assert rendered["music_lufs"] == pytest.approx(want, abs=0.1)
    r = run_cli("render", out / "contrast.score.mid", "--lufs", "-23", "--json")
    assert json.loads(r.stdout)["music_lufs"] == pytest.approx(-23.0, abs=0.1)  # --lufs wins
    assert run_cli("plan", an, "--fresh").returncode == 0  # --fresh drops it
    assert "reference" not in json.loads((out / "contrast.timeline.json").read_text())["settings"] or \
        not json.loads((out / "contrast.timeline.json").read_text())["settings"]["reference"]


def test_preferences_follow_the_ratings():
    busy_high = {"density_band": 3, "register": "high"}
    sparse_low = {"density_band": 0, "register": "low"}
    p = preferences_from([{"cue_id": "2M1", "stars": 5, **busy_high}])
    assert (p.density_shift, p.register_shift, p.kept) == (1, 1, ["2M1"])
    p = preferences_from([{"cue_id": "2M1", "stars": 1, **busy_high}])
    assert (p.density_shift, p.register_shift, p.kept) == (-1, -1, [])
    p = preferences_from([{"cue_id": "1M1", "stars": 5, **sparse_low}, {"cue_id": "2M1", "stars": 1, **busy_high}])
    assert (p.density_shift, p.register_shift) == (-1, -1)
    # the latest rating of a cue counts; a 3 is neutral
    p = preferences_from([{"cue_id": "2M1", "stars": 5, **busy_high}, {"cue_id": "2M1", "stars": 3, **busy_high}])
    assert (p.density_shift, p.register_shift, p.kept) == (0, 0, [])


def _cue_notes(mid, cue):
    pm = pretty_midi.PrettyMIDI(str(mid))
    return sorted((i.name, round(n.start, 4), n.pitch) for i in pm.instruments for n in i.notes
                  if cue["start_sec"] - 1e-6 <= n.start < cue["end_sec"])


def test_rate_keeps_liked_cues_and_redraws_disliked_ones(tmp_path, clip_contrast):
    out = tmp_path / "o"
    assert run_cli("analyze", clip_contrast.path, "-o", out).returncode == 0
    assert run_cli("plan", out / "contrast.analysis.json").returncode == 0
    tl_path = out / "contrast.timeline.json"
    r = run_cli("rate", tl_path, "1", "5")
    assert r.returncode == 2 and "compose" in r.stderr  # nothing composed yet
    assert run_cli("compose", tl_path, "--seed", "4").returncode == 0
    mid = out / "contrast.score.mid"
    tl = json.loads(tl_path.read_text())
    cues = [c for c in tl["cues"] if not c["tacet"]]
    assert len(cues) >= 2
    liked, disliked = cues[0], cues[1]
    before = {c["id"]: _cue_notes(mid, c) for c in cues}
    r = run_cli("rate", tl_path, liked["id"], "5", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert "seed 4 pinned" in s["this_cue"]
    r = run_cli("rate", tl_path, disliked["id"], "1", "--json")
    s = json.loads(r.stdout)
    assert "new take" in s["this_cue"] and "rating" in s["preferences_now"]
    ratings = json.loads((out / "contrast.ratings.json").read_text())
    assert [x["stars"] for x in ratings["ratings"]] == [5, 1]
    assert run_cli("plan", out / "contrast.analysis.json").returncode == 0  # a re-plan keeps the seeds
    r = run_cli("compose", tl_path, "--seed", "9", "--json")  # even with another global seed
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["preferences"].startswith("2 rating(s)")
    assert _cue_notes(mid, liked) == before[liked["id"]]
    assert _cue_notes(mid, disliked) != before[disliked["id"]]
    for bad in (["1", "6"], ["1", "0"], ["9", "3"], ["1", "4.5"], ["1"]):
        r = run_cli("rate", tl_path, *bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # as the issue writes it: `rate CUE STARS`, the timeline last or found in the working folder
    r = run_cli("rate", liked["id"], "4", tl_path, "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli("rate", disliked["id"], "2", "--json", cwd=out)
    assert r.returncode == 0, r.stderr
    assert [x["stars"] for x in json.loads((out / "contrast.ratings.json").read_text())["ratings"]] == [5, 1, 4, 2]
    r = run_cli("rate", "1", "4", cwd=tmp_path)  # no timeline there: says how to give it
    assert r.returncode == 2 and "which timeline?" in r.stderr and "none in this folder" in r.stderr
    # a locked cue keeps its notes: a low rating says so and leaves its seed
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["locked"] = True
    tl_path.write_text(json.dumps(tl))
    r = run_cli("rate", tl_path, tl["cues"][0]["id"], "1", "--json")
    assert r.returncode == 0 and "is locked" in json.loads(r.stdout)["this_cue"]
    assert json.loads(tl_path.read_text())["cues"][0]["seed"] == tl["cues"][0]["seed"]

