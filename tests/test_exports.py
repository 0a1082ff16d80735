"""Exports for the editor's and the composer's tools, each read back by the library that reads it:
click (soundfile, mido), streamers (decoded frames), sessions (OpenTimelineIO's adapters, pyaaf2,
``rpp``) at 23.976, 25 and 29.97 drop-frame, MusicXML (music21, MuseScore), cue sheet and spotting notes."""

from __future__ import annotations

import csv
import hashlib
import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def scored(clip25, tmp_path_factory: pytest.TempPathFactory):
    """clip25 scored with every export, its markers from a CSV, with stems; and the video's hash before."""
    import tempscore

    out = tmp_path_factory.mktemp("exports")
    markers = out / "markers.csv"
    markers.write_text("timecode,name,weight\n00:00:03:05,door,must\n00:00:07:12,look,should\n")
    before = hashlib.sha256(clip25.path.read_bytes()).hexdigest()
    res = tempscore.score(clip25.path, out, markers=str(markers), click=True, streamers=True, sessions=True,
                          notation=True, cuesheet=True, cue_composer="A. Composer", cue_publisher="Temp Music",
                          stems=True)
    return res, before


def test_the_original_is_untouched_and_every_export_is_listed(scored, clip25):
    res, before = scored
    assert hashlib.sha256(clip25.path.read_bytes()).hexdigest() == before
    for key in ("click_wav", "streamers", "premiere_xml", "fcpxml", "aaf", "reaper", "musicxml", "cuesheet",
                "spotting"):
        assert Path(res.outputs[key]).is_file(), key
    assert set(res.summary.render.exports) == {"click", "streamers", "sessions", "notation", "cuesheet"}
    plan = res.summary.plan.markers
    assert plan["must"] == 1 and plan["should"] == 1 and plan["hit"] + plan["near"] + plan["miss"] == 2
    # the terminal report names each file for what it is, not by its key
    from tempscore.cli.report import FILE_LABELS

    assert {k for k in res.outputs if not k.startswith("stem_")} <= set(FILE_LABELS)


def test_click_track_and_count_in(scored):
    import mido
    import soundfile as sf
    from tempscore.render.click import CLICK_TRACK, DOWNBEAT_KEY, click_times

    res, _ = scored
    tl = res.timeline
    audio, sr = sf.read(res.outputs["click_wav"])
    clicks = click_times(tl)
    assert clicks and len(audio) == round(tl.video.duration_sec * sr)
    # every click starts where it should: silence just before, sound from its sample on
    for c in clicks:
        a = round(c.time_sec * sr)
        assert np.abs(audio[a:a + 48]).max() > 0.1
        assert a < 96 or np.abs(audio[a - 96:a - 48]).max() < 1e-3
    # the MIDI's click track has the same clicks; the render did not play it
    mid = mido.MidiFile(res.outputs["midi"])
    track = next(t for t in mid.tracks if any(m.type == "track_name" and m.name == CLICK_TRACK for m in t))
    ons = [m for m in track if m.type == "note_on"]
    assert len(ons) == len(clicks) and sum(m.note == DOWNBEAT_KEY for m in ons) == sum(c.downbeat for c in clicks)
    assert CLICK_TRACK not in str(res.summary.render.sections)


def test_count_in_bar_before_a_cue_after_silence():
    from tempscore.render.click import click_times
    from tempscore.scoring import PlanSettings, plan
    from tempscore.scoring.tempo import TempoMap

    from tests.support.synthetic import synthetic_analysis

    tl = plan(synthetic_analysis(90.0, seed=3), PlanSettings())
    assert len(tl.cues) >= 2
    tl.cues[0].tacet = True
    cue = tl.cues[1]
    count = [c for c in click_times(tl) if c.count_in and c.cue_id == cue.id]
    beat = 60.0 / TempoMap(tl.tempo_map).bpm_at(cue.start_sec)
    assert len(count) == cue.beats_per_bar and count[0].downbeat
    assert np.allclose([c.time_sec for c in count], [cue.start_sec - k * beat for k in range(cue.beats_per_bar, 0, -1)],
                       atol=1e-5)
    assert not any(c.cue_id == tl.cues[0].id for c in click_times(tl))  # a tacet cue gets no click


def test_streamers_are_where_they_should_be(scored, clip25):
    import av
    from tempscore.render.streamers import COLOURS, streamer_events, streamer_x

    res, _ = scored
    tl = res.timeline
    events = [s for s in streamer_events(tl) if s.kind == "hit"]
    assert events
    with av.open(res.outputs["streamers"]) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(clip25.path)) as c:
        picture = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == tl.video.frame_count == len(picture)
    h, w, _ = frames[0].shape
    assert picture[0].shape == frames[0].shape  # (a small picture keeps its size)
    bar_w = max(4, w // 60)
    red = np.array([int(COLOURS["hit"][i:i + 2], 16) for i in (0, 2, 4)])
    checked = 0
    for s in events:
        for n in range(s.start, s.frame):
            band = frames[n][h // 5:h // 3].astype(int)  # rows clear of the punch and the text windows
            under = picture[n][h // 5:h // 3].astype(int)
            drawn = (np.abs(band - red).sum(axis=2) < 120) & (np.abs(band - under).sum(axis=2) > 90)
            is_red = drawn.mean(axis=0) > 0.5  # red, and not the picture's own, down the band
            cols = np.flatnonzero(is_red)
            x = streamer_x(s, n, w, bar_w)
            if (np.abs(under[:, x:x + bar_w] - red).sum(axis=2) < 120).mean() > 0.3:
                continue  # a red bar over the picture's own red cannot be seen (nor tested)
            checked += 1
            # the bar is there (another streamer's may be too), within 2 px of where it should be
            assert is_red[max(0, x - 2):x + bar_w + 2].sum() >= bar_w - 1, (s, n, cols)
        centre = frames[s.frame][h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].astype(int)
        assert centre.min() > 200, s  # the punch: a white disc on the hit's frame
        before = frames[s.frame - 1][h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].astype(int)
        assert not before.min() > 200 or s.frame - 1 in {e.frame for e in events}
    assert checked >= 0.8 * sum(s.frames for s in events)


RATES = {"23.976": Fraction(24000, 1001), "25": Fraction(25), "29.97DF": Fraction(30000, 1001)}


def _session_inputs(fps: Fraction, tmp: Path):
    from tempscore.render.sessions import SessionMedia
    from tempscore.scoring import PlanSettings, plan

    from tests.support.synthetic import synthetic_analysis

    a = synthetic_analysis(40.0, seed=7, fps=fps, path=str(tmp / "cut.mp4"))
    a.video.start_timecode = "01:00:00;00" if fps == Fraction(30000, 1001) else "01:00:00:00"
    tl = plan(a, PlanSettings())
    media = SessionMedia(video=tmp / "cut.mp4", score=tmp / "cut.score.wav",
                         stems=[tmp / "cut.stem-strings.wav", tmp / "cut.stem-brass.wav"], midi=tmp / "cut.score.mid")
    return tl, media


def _expected_marks(tl) -> list[int]:
    return sorted({c.start_frame for c in tl.cues} | {h.frame for h in tl.hit_points})


@pytest.mark.parametrize("rate", RATES)
def test_sessions_read_back(tmp_path: Path, rate: str):
    import aaf2
    import opentimelineio as otio
    import rpp
    from tempscore.render.sessions import (
        write_aaf,
        write_fcpxml,
        write_rpp,
        write_xmeml,
    )
    from tempscore.scoring.markers import read_markers

    fps = RATES[rate]
    tl, media = _session_inputs(fps, tmp_path)
    n = tl.video.frame_count
    marks = _expected_marks(tl)
    # Premiere / Resolve: OTIO's fcp_xml adapter reads the tracks, their offsets and the markers
    write_xmeml(tl, media, tmp_path / "cut.premiere.xml")
    back = otio.adapters.read_from_file(str(tmp_path / "cut.premiere.xml"), "fcp_xml")
    back = back if isinstance(back, otio.schema.Timeline) else next(iter(back))
    names = [t.name for t in back.tracks]
    assert len(back.video_tracks()) == 1 and len(back.audio_tracks()) == 3, names
    for t in back.tracks:
        clip = next(iter(t.find_clips()))
        assert clip.range_in_parent().start_time.to_frames() == 0 and clip.duration().to_frames() == n
    got = sorted({round((m.marked_range.start_time.to_seconds()) * float(fps)) for m in back.tracks.markers})
    assert got == marks
    assert [m.frame for m in read_markers(tmp_path / "cut.premiere.xml", tl.video)] == sorted(
        m for m in [c.start_frame for c in tl.cues] + [h.frame for h in tl.hit_points])
    # Final Cut Pro: the markers come back as the same frames (exact rational times); the lanes hold the audio
    write_fcpxml(tl, media, tmp_path / "cut.fcpxml")
    assert sorted({m.frame for m in read_markers(tmp_path / "cut.fcpxml", tl.video)}) == marks
    import xml.etree.ElementTree as ET

    root = ET.parse(tmp_path / "cut.fcpxml").getroot()
    clips = list(root.iter("asset-clip"))
    assert [c.get("lane") for c in clips] == [None, "-1", "-2", "-3"]
    assert all(Fraction(c.get("duration")[:-1]) == n / fps for c in clips)
    # Pro Tools / Media Composer: pyaaf2 opens it; OTIO's AAF adapter reads the tracks at their offsets
    write_aaf(tl, media, tmp_path / "cut.aaf")
    with aaf2.open(str(tmp_path / "cut.aaf"), "r") as f:
        assert len(list(f.content.compositionmobs())) == 1
    aaf = otio.adapters.read_from_file(str(tmp_path / "cut.aaf"), "AAF")
    assert len(aaf.audio_tracks()) == 3 and len(aaf.video_tracks()) == 1
    for t in aaf.tracks:
        clip = next(iter(t.find_clips()))
        assert clip.range_in_parent().start_time.to_frames() == 0 and abs(clip.duration().to_frames() - n) <= 1
    # REAPER: rpp reads the tracks, their files, the tempo envelope and the markers
    write_rpp(tl, media, tmp_path / "cut.rpp")
    proj = rpp.loads((tmp_path / "cut.rpp").read_text())
    tracks = proj.findall("TRACK")
    assert [t.find("NAME")[1] for t in tracks] == ["Picture", "Score", "strings", "brass", "MIDI (muted)"]
    files = [t.find("ITEM").find("SOURCE").find("FILE")[1] for t in tracks]
    assert files == ["cut.mp4", "cut.score.wav", "cut.stem-strings.wav", "cut.stem-brass.wav", "cut.score.mid"]
    assert all(float(t.find("ITEM").find("POSITION")[1]) == 0.0 for t in tracks)
    pts = [ln for ln in proj.find("TEMPOENVEX").children if ln[0] == "PT"]
    assert [(round(float(p[1]), 6), round(float(p[2]), 4)) for p in pts] == [
        (round(e.time_sec, 6), round(e.bpm, 4)) for e in tl.tempo_map]
    hit_marks = [ln for ln in proj.children if isinstance(ln, list) and ln[0] == "MARKER" and ln[4] == "0"]
    assert [round(float(m[2]) * float(fps)) for m in hit_marks] == [h.frame for h in tl.hit_points]


def test_musicxml_has_the_midis_notes(scored):
    import pretty_midi
    from music21 import converter
    from tempscore.render.click import CLICK_TRACK

    res, _ = scored
    sc = converter.parse(res.outputs["musicxml"]).toSoundingPitch()
    pm = pretty_midi.PrettyMIDI(res.outputs["midi"])
    parts = [i for i in pm.instruments if i.notes and i.name != CLICK_TRACK]
    assert len(sc.parts) == len(parts)
    for part, inst in zip(sc.parts, parts):
        heads = [p for el in part.flatten().notes for p in el.pitches
                 if el.tie is None or el.tie.type == "start"]
        assert sorted(p.midi for p in heads) == sorted(n.pitch for n in inst.notes), inst.name
    marks = [el.content for el in sc.flatten().getElementsByClass("RehearsalMark")]
    assert [m.split()[0] for m in marks] == [c.id for c in res.timeline.cues]


def test_musescore_engraves_it(scored):
    from tempscore.render.notation import musescore_exe

    res, _ = scored
    if musescore_exe() is None:
        pytest.skip("MuseScore (Debian musescore3) is not installed: no PDF")
    pdf = Path(res.outputs["score_pdf"])
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


def test_cuesheet_and_spotting_notes(scored):
    res, _ = scored
    rows = list(csv.DictReader(io.StringIO(Path(res.outputs["cuesheet"]).read_text())))
    cues = [c for c in res.timeline.cues if not c.tacet]
    assert [r["cue"] for r in rows] == [c.id for c in cues]
    sync = {(r["event"], r["id"]): r for r in csv.DictReader(io.StringIO(Path(res.outputs["sync_csv"]).read_text()))}
    for r in rows:
        assert r["in"] == sync[("cue_start", r["cue"])]["timecode"] and r["out"] == sync[("cue_end", r["cue"])]["timecode"]
        assert (r["usage"], r["composer"], r["publisher"]) == ("BI", "A. Composer", "Temp Music")
    html = Path(res.outputs["spotting"]).read_text()
    assert all(c.id in html for c in res.timeline.cues) and html.count("data:image/jpeg;base64,") == len(res.timeline.cues)
    assert "door" in html and "look" in html


@pytest.mark.parametrize("text,line", [("timecode,name\n00:00:01:00,a\n09:00:00:00,b\n", 3),
                                       ("timecode,name\n00:00:01:30,a\n", 2),
                                       ("nothing to see here\n", None)])
def test_bad_marker_file_exit_2_nothing_written(clip25, tmp_path: Path, text: str, line: int | None):
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    out = tmp_path / "out"
    proc = run_cli("score", str(clip25.path), "-o", str(out), "--markers", str(bad))
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    if line is not None:
        assert f"line {line}" in err
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.endswith(".cache")]
