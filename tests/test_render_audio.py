"""Real synthesis (TinySoundFont + a GM soundfont) of generated and real scores: loudness on target,
true peak under the ceiling, stems, ducking depth on a clip with known speech regions, clicks at
cue edges, and a MIDI file a DAW opens cleanly."""

import dataclasses
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from tempscore.contracts import Cue, Marker, Note, Part, Score, TempoEvent, Timeline, VideoInfo
from tempscore.models import compose
from tempscore.render import RenderSettings, render_audio
from tempscore.render.midi import CC1_RANGE, CC11_RANGE, write_midi
from tempscore.render.sections import section_of
from tempscore.render.synth import default_soundfont, fluidr3_path, timgm6mb_path
from tempscore.scoring import plan
from tempscore.vision import analyze

from conftest import SAMPLE
from support.synthetic import synthetic_analysis

SR = 48000


def full_true_peak_dbtp(x: np.ndarray) -> float:
    """Reference true peak: 4x polyphase oversampling of the whole signal."""
    return float(20 * np.log10(np.abs(resample_poly(np.asarray(x, np.float64), 4, 1, axis=0)).max()))


def lufs(x: np.ndarray) -> float:
    return float(pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64)))


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two generated 40 s scores (synthetic rough cuts -> plan -> compose -> MIDI)."""
    d = tmp_path_factory.mktemp("gen")
    out = {}
    for seed in (1, 2):
        tl = plan(synthetic_analysis(40.0, seed=seed))
        score = compose(tl, seed=seed)
        out[seed] = (tl, score, write_midi(score, d / f"g{seed}.score.mid", timeline=tl))
    return out


@pytest.mark.parametrize("seed,target", [(1, -23.0), (2, -23.0), (1, -14.0)])
def test_generated_scores_on_target_under_ceiling(generated, seed, target):
    tl, score, mid = generated[seed]
    res = render_audio(mid, tl, settings=RenderSettings(target_lufs=target))
    assert res.music.shape == (round(tl.video.duration_sec * SR), 2)
    assert lufs(res.music) == pytest.approx(target, abs=0.5)
    assert full_true_peak_dbtp(res.music) <= -1.0
    assert res.loudness.final_lufs == pytest.approx(lufs(res.music), abs=0.05)
    assert set(res.parts) == {section_of(p.program, p.is_drum) for p in score.parts}


@pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample missing")
def test_bundled_sample_on_target_and_mix_under_ceiling(tmp_path):
    tl = plan(analyze(SAMPLE))
    mid = write_midi(compose(tl), tmp_path / "s.score.mid", timeline=tl)
    res = render_audio(mid, tl)
    assert lufs(res.music) == pytest.approx(-23.0, abs=0.5)
    assert full_true_peak_dbtp(res.music) <= -1.0
    assert res.mix is not None and full_true_peak_dbtp(res.mix) <= -1.0  # the sample has production audio


def test_stems_sum_to_the_music(generated):
    tl, score, mid = generated[1]
    res = render_audio(mid, tl, settings=RenderSettings(stems=True))
    assert set(res.stems) == {section_of(p.program, p.is_drum) for p in score.parts}
    assert np.allclose(sum(res.stems.values()), res.music, atol=2e-5)
    for audio in res.stems.values():
        assert audio.shape == res.music.shape and np.abs(audio).max() > 1e-3


def test_stems_with_a_cache_sum_to_the_music_a_plain_render_makes(generated, tmp_path):
    """The editor's path (a cache): each stem's hall built piece by piece over its own segments.
    The stems sum to the music, which is the music of the same render without stems; file-backed
    (``ram_buffers_mb=0``, as a feature's are) or in memory, the same samples; a second render
    reads every stem's pieces back."""
    from tempscore.cache import StageCache

    tl, score, mid = generated[2]
    plain = render_audio(mid, tl, cache=StageCache(tmp_path / "plain"))
    res = render_audio(mid, tl, settings=RenderSettings(stems=True), cache=StageCache(tmp_path / "c1"))
    assert set(res.stems) == {section_of(p.program, p.is_drum) for p in score.parts}
    assert np.allclose(sum(res.stems.values()), res.music, atol=2e-5)
    assert np.allclose(res.music, plain.music, atol=2e-5)  # the same score, however it is mixed
    assert res.loudness.gain_db == pytest.approx(plain.loudness.gain_db, abs=0.01)
    cache = StageCache(tmp_path / "c2")
    spilled = render_audio(mid, tl, settings=RenderSettings(stems=True, ram_buffers_mb=0), cache=cache)
    n_bytes = spilled.music.nbytes
    assert spilled.spilled_mb * 2**20 >= (len(spilled.stems) + 1) * n_bytes * 0.99  # every stem and the mix
    assert np.array_equal(spilled.music, res.music)
    for k, audio in res.stems.items():
        assert np.array_equal(spilled.stems[k], audio)
    cache.counts.clear()
    again = render_audio(mid, tl, settings=RenderSettings(stems=True), cache=cache)
    assert np.array_equal(again.music, res.music)
    hits, misses = cache.counts["hall"]
    assert hits >= len(res.stems) and misses == 0  # every stem's hall from the cache


def test_a_stem_feeding_its_own_hall_reads_each_piece_before_its_return():
    """``apply_reverb_pieces`` with the send among its targets (a stem and its own hall, in place)
    adds what a separate buffer would have got."""
    from tempscore.render.reverb import apply_reverb_pieces, hall_pieces

    rng = np.random.default_rng(4)
    n = 6 * SR
    send = np.zeros((n, 2), np.float32)
    spans = [(0, 2 * SR, "a"), (int(1.5 * SR), 4 * SR, "b"), (int(4.2 * SR), n, "c")]
    for a, b, _ in spans:
        send[a:b] += rng.standard_normal((b - a, 2)).astype(np.float32) * 0.1
    pieces = hall_pieces(spans, n)
    apart = np.zeros_like(send)
    apply_reverb_pieces(send.copy(), pieces, sr=SR, cache=None, add_to=apart, send_gain=0.5)
    inplace = send.copy()
    apply_reverb_pieces(inplace, pieces, sr=SR, cache=None, add_to=inplace, send_gain=0.5)
    assert np.abs(apart).max() > 1e-3
    assert np.allclose(inplace, send + apart, atol=1e-6)


def test_ducking_depth_on_clip_with_known_speech(clip25, tmp_path):
    """Speech at 3-6 s on a real clip: the music under it is >= the configured depth quieter,
    measured against the same render without ducking (which removes the music's own ups and downs)."""
    tl = plan(analyze(clip25.path))
    mid = write_midi(compose(tl), tmp_path / "c.score.mid", timeline=tl)
    depth = 10.0
    ducked = render_audio(mid, tl, settings=RenderSettings(duck_depth_db=depth), speech=[(3.0, 6.0)]).music
    plain = render_audio(mid, tl, settings=RenderSettings(duck_depth_db=depth), speech=[]).music
    inside = slice(3 * SR, 6 * SR)
    outside = np.r_[int(0.5 * SR) : int(2.6 * SR), int(6.9 * SR) : int(11.5 * SR)]  # away from the ramps
    in_drop = rms_db(ducked[inside]) - rms_db(plain[inside])
    out_drop = rms_db(ducked[outside]) - rms_db(plain[outside])
    assert out_drop - in_drop >= depth - 0.05  # relative to outside, under dialogue the music is `depth` lower
    assert lufs(ducked) == pytest.approx(-23.0, abs=0.5)  # and the ducked music is still on target


def _pad_score(tmp_path: Path):
    """Sustained string chords: cue 1 (0-4 s, 120 BPM) into cue 2 (4-8 s), then a tacet cue (8-10 s).

    The worst case for clicks: sound still ringing at each cue edge, no percussive attack to hide one.
    """
    chords = [(0.0, 4.0, (48, 55, 64, 72)), (4.0, 8.0, (45, 52, 60, 69))]
    notes = [Note(a, b, p, 80) for a, b, ps in chords for p in ps]
    tmap = [TempoEvent(0.0, 120.0), TempoEvent(4.0, 120.0, bar=3), TempoEvent(8.0, 120.0, bar=5)]
    score = Score(parts=[Part("Strings (pad)", 49, notes=notes)], tempo_map=tmap,
                  markers=[Marker(0.0, "1M1"), Marker(4.0, "2M1")], duration_sec=10.0, composer="test")

    def cue(i, a, b, tacet=False):
        return Cue(id=f"{i}M1", start_sec=a, end_sec=b, start_frame=int(a * 25), end_frame=int(b * 25),
                   mood="serene", valence=0.2, arousal=0.0, intensity=0.3, key="C major", tempo_bpm=120.0,
                   beats=int((b - a) * 2), tacet=tacet)

    video = VideoInfo(path=str(tmp_path / "absent.mp4"), fps_num=25, fps_den=1, frame_count=250, duration_sec=10.0,
                      width=320, height=180)
    tl = Timeline(video=video, cues=[cue(1, 0, 4), cue(2, 4, 8), cue(3, 8, 10, tacet=True)], tempo_map=tmap,
                  hit_points=[])
    return tl, write_midi(score, tmp_path / "pad.score.mid", timeline=tl)


def test_no_clicks_at_cue_edges(tmp_path):
    """Threshold: the steepest sample-to-sample step of the sustained chords themselves, away from
    any edge: an edge may be no rougher than the music. A click is a sustained sound cut at an
    edge: it jumps by up to the sound's level there, which the last assert shows is over 3x the
    threshold, so the test would see one. (Measured: edges 0.021-0.023 against 0.029.)"""
    tl, mid = _pad_score(tmp_path)
    x = render_audio(mid, tl, settings=RenderSettings(reverb=False)).music
    jump = np.abs(np.diff(x, axis=0)).max(axis=1)
    steady = np.r_[int(1.0 * SR) : int(3.5 * SR), int(5.0 * SR) : int(7.5 * SR)]
    threshold = jump[steady].max()
    # edges: cue 1 -> 2 (crossfade from 4.0 s to the next beat, 4.5 s), ring-out into the tacet cue
    # (8.0 s to 10.0 s, the film end)
    for t in (4.0, 4.5, 8.0, 9.99):
        w = jump[int((t - 0.02) * SR) : int((t + 0.02) * SR)]
        assert w.max() <= threshold, (t, float(w.max()), threshold)
    assert np.abs(x[int(3.98 * SR) : int(4.0 * SR)]).max() > 3 * threshold  # what a hard cut would jump
    assert np.abs(x[int(4.6 * SR) : int(7.9 * SR)]).max() > 0.05  # cue 2 sounds (it started on its downbeat)


def test_midi_opens_cleanly_with_automation(generated, tmp_path):
    tl, score, mid_path = generated[1]
    mid = mido.MidiFile(str(mid_path))
    assert mid.type == 1 and mid.ticks_per_beat == 960
    conductor = list(mid.tracks[0])
    kinds = {m.type for m in conductor}
    assert {"set_tempo", "time_signature", "key_signature", "smpte_offset", "marker", "text"} <= kinds
    markers = [m.text for m in conductor if m.type == "marker"]
    for cue in tl.cues:
        assert any(t.startswith(cue.id + " ") for t in markers) and f"{cue.id} end" in markers
    for tr in mid.tracks:  # what a DAW's importer checks
        assert tr[0].type == "track_name" and tr[-1].type == "end_of_track"
        assert all(m.time >= 0 for m in tr)
        chans = {m.channel for m in tr if not m.is_meta}
        assert len(chans) <= 1
        ons = sum(1 for m in tr if m.type == "note_on" and m.velocity > 0)
        offs = sum(1 for m in tr if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
        assert ons == offs
    # round trips: mido re-save, then pretty_midi reads the same notes, programs and tempo map
    again = tmp_path / "again.mid"
    mid.save(str(again))
    pm = pretty_midi.PrettyMIDI(str(again))
    assert [i.name for i in pm.instruments] == [p.name for p in score.parts]
    assert [i.program for i in pm.instruments] == [p.program for p in score.parts]
    assert [len(i.notes) for i in pm.instruments] == [len(p.notes) for p in score.parts]
    times, tempi = pm.get_tempo_changes()
    changes = [e for k, e in enumerate(tl.tempo_map) if k == 0 or e.bpm != tl.tempo_map[k - 1].bpm]
    assert np.allclose(times, [e.time_sec for e in changes], atol=1e-3)
    assert np.allclose(tempi, [e.bpm for e in changes], atol=0.01)
    # expression follows intensity: within its range, and higher in the most intense cue than the calmest
    # (the melody is one track per instrument it plays: "Melody (Flute)", ...)
    melodies = [i for i in pm.instruments if i.name.rsplit(" (", 1)[0] == "Melody"]
    assert melodies
    for num, (lo, hi) in ((11, CC11_RANGE), (1, CC1_RANGE)):
        cc = [(c.time, c.value) for m in melodies for c in m.control_changes if c.number == num]
        assert len(cc) >= len([c for c in tl.cues if not c.tacet])
        assert all(lo <= v <= hi for _, v in cc)
    # every track's CC11, and only inside the cues where that track plays
    cc11 = []
    for inst in pm.instruments:
        plays = [c for c in tl.cues if any(c.start_sec - 1e-3 <= n.start < c.end_sec for n in inst.notes)]
        for c in inst.control_changes:
            if c.number in (1, 11) and c.time > 1e-6:
                assert any(p.start_sec - 2e-3 <= c.time < p.end_sec for p in plays), (inst.name, c.time)
            if c.number == 11:
                cc11.append((c.time, c.value))
    live = [c for c in tl.cues if not c.tacet]
    hot, calm = max(live, key=lambda c: c.intensity), min(live, key=lambda c: c.intensity)

    def mean_in(c: Cue) -> float:  # mean expression (CC11) in the cue
        return np.mean([v for t, v in cc11 if c.start_sec <= t < c.end_sec])

    assert mean_in(hot) > mean_in(calm)
    assert all({7, 10, 91} <= {c.number for c in m.control_changes} for m in melodies)


def test_both_soundfonts_render(generated):
    tl, _, mid = generated[2]
    short = dataclasses.replace(tl, video=dataclasses.replace(tl.video, duration_sec=8.0))
    from tempscore.render.synth import musescore_path

    have = {"timgm6mb": timgm6mb_path(), "fluidr3": fluidr3_path(), "musescore": musescore_path()}
    fonts = [f for f, p in have.items() if p is not None]
    assert "timgm6mb" in fonts
    for f in fonts:
        res = render_audio(mid, short, settings=RenderSettings(soundfont=f))
        assert Path(res.soundfont) == default_soundfont(f)
        assert lufs(res.music) == pytest.approx(-23.0, abs=0.5)
    expected = "FluidR3_GM.sf2" if fluidr3_path() else "TimGM6mb.sf2"
    assert default_soundfont("auto").name == expected


def test_parallel_synthesis_equals_serial(generated, monkeypatch):
    """The forked worker renders the later cues of each big section; the result is the serial one."""
    from tempscore.render.mix import cue_segments
    from tempscore.render.synth import synthesize_sections

    tl, _, mid = generated[2]
    segs = cue_segments(tl.cues, tl.tempo_map, tl.video.duration_sec)
    monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", "1")
    serial = synthesize_sections(mid, duration_sec=tl.video.duration_sec, segments=segs).audio
    monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", "2")
    par = synthesize_sections(mid, duration_sec=tl.video.duration_sec, segments=segs).audio
    assert serial.keys() == par.keys()
    for k in serial:
        assert np.abs(serial[k] - par[k]).max() < 1e-6


def test_parallel_synthesis_through_the_cache_equals_serial(generated, monkeypatch, tmp_path):
    """With a cache the synthesis worker (a process of its own) only stores its segments there and
    this process mixes every segment in the serial order: the mix is the serial one bit for bit,
    cold and with some cues already cached, and no full-length section buffer is made."""
    import os

    from tempscore.cache import StageCache
    from tempscore.render import synth
    from tempscore.render.mix import cue_segments
    from tempscore.render.synthworker import SynthWorker

    tl, _, mid = generated[1]
    dur = tl.video.duration_sec
    segs = cue_segments(tl.cues, tl.tempo_map, dur)
    n = round(dur * SR)
    forks: list[bool] = []  # per job the worker finished: did it store all of its share
    real_wait = SynthWorker.wait
    monkeypatch.setattr(SynthWorker, "wait", lambda self: forks.append(real_wait(self)) or forks[-1])
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("the render forked itself"))
    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0)  # a worker for this short score's sections too
    monkeypatch.setattr(synth, "_shared_zeros", lambda k: pytest.fail("full-length shared buffer"))

    def dry(procs: str, cache: StageCache) -> np.ndarray:
        monkeypatch.setenv("TEMPSCORE_SYNTH_PROCS", procs)
        out = np.zeros((n, 2), np.float32)
        list(synth.iter_sections(mid, sr=SR, duration_sec=dur, segments=segs, cache=cache,
                                 into=lambda section: [(out, 1.0)]))  # sections mixed into `out`
        return out

    serial = dry("1", StageCache(tmp_path / "c1"))
    assert not forks
    parallel = dry("2", StageCache(tmp_path / "c2"))
    assert forks and all(forks) and np.array_equal(serial, parallel)
    # every other segment still cached (as after edits): the rest is split between the processes
    part = StageCache(tmp_path / "c3")
    dry("1", part)
    entries = sorted((tmp_path / "c3" / "synth").glob("*.npy"))
    for f in entries[::2]:
        f.unlink()
    forks.clear()
    assert np.array_equal(dry("2", part), serial)
    assert forks and all(forks) and len(list((tmp_path / "c3" / "synth").glob("*.npy"))) == len(entries)


def test_without_fluidr3_auto_falls_back_and_naming_it_is_a_user_error(monkeypatch, tmp_path):
    from tempscore.errors import ToolMissing
    from tempscore.render import synth

    monkeypatch.setattr(synth, "FLUIDR3_PATHS", (str(tmp_path / "absent.sf2"),))
    monkeypatch.delenv("TEMPSCORE_SOUNDFONT", raising=False)
    assert synth.default_soundfont().name == "TimGM6mb.sf2"
    with pytest.raises(ToolMissing, match="fluid-soundfont-gm"):
        synth.default_soundfont("fluidr3")
    with pytest.raises(ToolMissing, match="no such soundfont"):
        synth.default_soundfont(str(tmp_path / "x.sf2"))


@pytest.mark.parametrize("fps_code,ticks_per_frame,frame_sec", [(25, 40, 1 / 25), (24, 80, 1 / 24), (29, 4, 1.001 / 30)])
def test_smpte_timed_midi_is_read_in_seconds(tmp_path, fps_code, ticks_per_frame, frame_sec):
    """A MIDI file timed in SMPTE frames (negative division) plays its notes at frame x frame length;
    its tempo events (ignored under SMPTE timing) do not move them."""
    import mido

    from tempscore.errors import BadStageFile
    from tempscore.render.synth import _load_midi

    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=300000, time=0),
                            mido.Message("program_change", program=40, time=0),
                            mido.Message("note_on", note=60, velocity=90, time=50 * ticks_per_frame),
                            mido.Message("note_off", note=60, velocity=0, time=25 * ticks_per_frame),
                            mido.MetaMessage("set_tempo", tempo=900000, time=5 * ticks_per_frame),
                            mido.Message("note_on", note=64, velocity=90, time=10 * ticks_per_frame),
                            mido.Message("note_off", note=64, velocity=0, time=10 * ticks_per_frame)])
    mf = mido.MidiFile(type=1, ticks_per_beat=480)
    mf.tracks.append(track)
    path = tmp_path / "smpte.mid"
    mf.save(str(path))
    raw = bytearray(path.read_bytes())
    raw[12:14] = bytes([(256 - fps_code) & 0xFF, ticks_per_frame])  # SMPTE division: -fps, ticks per frame
    path.write_bytes(bytes(raw))
    notes = sorted((n.start, n.end, n.pitch) for i in _load_midi(path).instruments for n in i.notes)
    want = [(50 * frame_sec, 75 * frame_sec, 60), (90 * frame_sec, 100 * frame_sec, 64)]
    assert [p for *_, p in notes] == [60, 64]
    for (s, e, _), (ws, we, _) in zip(notes, want):
        assert s == pytest.approx(ws, abs=1e-6) and e == pytest.approx(we, abs=1e-6)
    raw[12:14] = bytes([256 - 23, 40])  # 23 fps is not an SMPTE rate
    path.write_bytes(bytes(raw))
    with pytest.raises(BadStageFile, match="SMPTE division"):
        _load_midi(path)


def test_midi_key_signature_spells_every_key():
    """Every key a timeline may hold gets a MIDI key signature (A# major has none of its own: Bb's)."""
    from tempscore.harmony import PITCH_CLASSES
    from tempscore.render.midi import _key_signature

    for name in PITCH_CLASSES:
        for mode in ("major", "minor"):
            assert _key_signature(f"{name} {mode}") is not None, (name, mode)
    assert _key_signature("A# major") == "Bb" and _key_signature("C# minor") == "C#m"


@pytest.mark.parametrize("fork", [False, True])
def test_a_re_render_mixes_again_only_what_changed_and_equals_a_whole_render(tmp_path, monkeypatch, fork):
    """After one cue's notes change, the re-render mixes again only the ranges where something
    sounding changed (the cue's segments and the reverb pieces they feed), taking the rest of the
    music before its gain from the last render; the result is a whole render's, sample for sample
    (checked against a render from an empty cache, both normalised exactly). A reverb piece
    missing from the cache makes it mix everything, with the same result."""
    import shutil

    from tempscore.cache import StageCache
    from tempscore.render import premaster, synth

    monkeypatch.setattr(synth, "_can_fork", lambda: fork)  # with the fork: the changed cues' segments too
    monkeypatch.setattr(synth, "FORK_MIN_NOTE_SEC", 1.0 if fork else 1e9)
    monkeypatch.setattr(premaster, "BLOCK_SEC", 20.0)  # kept in six blocks
    tl = plan(synthetic_analysis(120.0, seed=1))  # ten cues
    score = compose(tl, seed=1)
    settings = RenderSettings(loudness_hold_lu=0.0)
    cache = StageCache(tmp_path / "project.cache")
    mid = tmp_path / "s.score.mid"
    write_midi(score, mid, timeline=tl)
    first = render_audio(mid, tl, settings=settings, cache=cache)
    assert first.premaster["mode"] == "whole"
    cues = [c for c in tl.cues if not c.tacet]
    assert len(cues) >= 3
    for k, cue in enumerate((cues[4], cues[-1])):  # a middle cue, then the last (the end fade)
        for part in score.parts:
            part.notes = [dataclasses.replace(nt, velocity=max(1, nt.velocity - 15 - 5 * k)) if cue.start_sec
                          <= nt.start_sec < cue.end_sec else nt for nt in part.notes]
        write_midi(score, mid, timeline=tl)
        again = render_audio(mid, tl, settings=settings, cache=cache)
        assert again.premaster["mode"] == "patched", again.premaster
        assert 0 < again.premaster["remixed_sec"] < tl.video.duration_sec / 2
        assert 0 < again.premaster["blocks_written"] < again.premaster["blocks"] == 6  # the blocks it touches
        whole = render_audio(mid, tl, settings=settings, cache=StageCache(tmp_path / f"fresh{k}.cache"))
        assert whole.premaster["mode"] == "whole"
        assert np.array_equal(again.music, whole.music)
        assert not np.array_equal(again.music, first.music)
    for part in score.parts:
        part.notes = [dataclasses.replace(nt, velocity=min(127, nt.velocity + 20)) if cues[2].start_sec
                      <= nt.start_sec < cues[2].end_sec else nt for nt in part.notes]
    write_midi(score, mid, timeline=tl)
    shutil.rmtree(tmp_path / "project.cache" / "hall")  # the pieces sounding beside the change are gone
    again = render_audio(mid, tl, settings=settings, cache=cache)
    assert again.premaster["mode"] == "whole"
    whole = render_audio(mid, tl, settings=settings, cache=StageCache(tmp_path / "fresh-last.cache"))
    assert np.array_equal(again.music, whole.music)
    kept = sorted(p.name for p in (tmp_path / "project.cache" / "premaster").glob("*.npy"))
    assert len(kept) == 6  # one entry per block: those replaced are gone
    shutil.rmtree(tmp_path / "project.cache" / "premaster")  # a block gone: everything is mixed, as ever
    again = render_audio(mid, tl, settings=settings, cache=cache)
    assert again.premaster["mode"] == "whole" and again.premaster["blocks_written"] == 6
    assert np.array_equal(again.music, whole.music)


@pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample missing")
def test_production_audio_decoded_into_its_cache_entry_is_the_decode(tmp_path):
    """The production audio goes straight into its cache entry (decoded into the mapped file):
    the same samples as a plain decode, then read back on the next render."""
    from tempscore.cache import StageCache
    from tempscore.render import _production_audio

    plain = _production_audio(SAMPLE, sr=SR)
    cache = StageCache(tmp_path / "c")
    first = _production_audio(SAMPLE, sr=SR, cache=cache)
    again = _production_audio(SAMPLE, sr=SR, cache=cache)
    assert plain is not None and len(plain) > 10 * SR
    assert np.array_equal(first, plain) and np.array_equal(again, plain)
    assert cache.counts["production"] == [1, 1]  # a miss (decoded), then a hit
    assert [p.suffix for p in (tmp_path / "c" / "production").iterdir()] == [".npy"]
