"""`tempscore render` as users run it: without the picture (composers), muxing with the video
stream bit-identical, the score starting with the first video frame, track layouts, ducking from
a CSV or from the analysis' speech regions."""

import json
import shutil
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import run_cli
from tempscore.media import run_ffmpeg
from test_cli import framemd5

SR = 48000


def first_pts(path, kind: str, index: int = 0) -> float:
    """Presentation time of the first decoded frame of the ``index``-th stream of ``kind``."""
    with av.open(str(path)) as c:
        s = [st for st in c.streams if st.type == kind][index]
        for f in c.decode(s):
            return float(f.pts * f.time_base)
    raise AssertionError("no frames")


def decode_audio(path, index: int) -> np.ndarray:
    with av.open(str(path)) as c:
        s = c.streams.audio[index]
        data = [f.to_ndarray() for f in c.decode(s)]
    a = np.concatenate(data, axis=1) if data[0].ndim == 2 and data[0].shape[0] == 2 else np.concatenate(data)
    return a.T if a.ndim == 2 and a.shape[0] == 2 else a


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        raw = np.frombuffer(w.readframes(w.getnframes()), np.uint8).reshape(-1, 3)
        ch = w.getnchannels()
    i = raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16
    i = np.where(i >= 1 << 23, i - (1 << 24), i)
    return (i / 8388607.0).reshape(-1, ch)


def lag_samples(a: np.ndarray, b: np.ndarray) -> int:
    """Lag of ``a`` behind ``b`` by FFT cross-correlation (mono sums)."""
    a, b = a.sum(axis=1), b.sum(axis=1)
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    k = int(np.argmax(xc))
    return k if k < n // 2 else k - n


@pytest.fixture(scope="module")
def scored(clip25, tmp_path_factory):
    out = tmp_path_factory.mktemp("render_cli")
    r = run_cli("score", clip25.path, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    return out


def test_render_without_the_video_writes_audio_and_skips_the_mux(scored, clip25, tmp_path):
    stem = clip25.path.stem
    for suffix in (".score.mid", ".timeline.json"):
        shutil.copy(scored / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    tl_path = tmp_path / f"{stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    tl["video"]["path"] = str(tmp_path / "not-here" / "cut.mp4")  # a composer with the timeline and MIDI only
    tl["analysis_path"] = ""
    tl_path.write_text(json.dumps(tl))
    r = run_cli("render", tmp_path / f"{stem}.score.mid", "--stems", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["mux"].startswith("skipped") and "--video" in s["mux"]
    assert not list(tmp_path.glob("*.scored.*"))
    wav = read_wav(tmp_path / f"{stem}.score.wav")
    assert len(wav) == round(tl["video"]["duration_sec"] * SR)
    stems = sorted(p.name for p in tmp_path.glob(f"{stem}.stem-*.wav"))
    assert stems == sorted(f"{stem}.stem-{k}.wav" for k in s["stems"]) and len(stems) >= 2
    r = run_cli("render", tmp_path / f"{stem}.score.mid", "--video", tmp_path / "nope.mp4")
    assert r.returncode == 2 and r.stderr.startswith("tempscore: error:")  # a named video must exist


def test_mux_keeps_video_and_starts_audio_on_frame_zero(scored, clip25):
    out = scored / f"{clip25.path.stem}.scored.mp4"
    assert framemd5(out) == framemd5(clip25.path)
    v0 = first_pts(out, "video")
    frame = 1 / float(clip25.fps)
    video_len = clip25.frames * frame
    wav = read_wav(scored / f"{clip25.path.stem}.score.wav")
    with av.open(str(out)) as c:
        n_audio = len(c.streams.audio)
        durs = [float(s.duration * s.time_base) for s in c.streams.audio]
    assert n_audio == 3
    for i in range(n_audio):
        assert abs(first_pts(out, "audio", i) - v0) <= 0.001
        assert abs(durs[i] - video_len) <= frame
    score_only = decode_audio(out, 1)  # track 2: the score alone, as AAC
    assert abs(len(score_only) / SR - video_len) <= frame
    assert abs(lag_samples(score_only[: 6 * SR], wav[: 6 * SR])) <= SR // 1000  # content aligned within 1 ms


def test_shifted_video_tracks_separate_and_csv_ducking(scored, clip25, tmp_path):
    """A container whose video starts 0.2 s after its audio: our tracks start with the first frame."""
    shifted = tmp_path / "shifted.mkv"
    run_ffmpeg(["-i", str(clip25.path), "-itsoffset", "0.2", "-i", str(clip25.path), "-map", "1:v", "-map", "0:a",
                "-c", "copy", str(shifted)], what="shifting")
    assert first_pts(shifted, "video") - first_pts(shifted, "audio") == pytest.approx(0.2, abs=0.002)
    csv = tmp_path / "speech.csv"
    csv.write_text("start_sec,end_sec\n2.0,4.5\n7.0,9.0\n")
    stem = clip25.path.stem
    r = run_cli("render", scored / f"{stem}.score.mid", "-o", tmp_path, "--video", shifted, "--tracks", "separate",
                "--duck-regions", csv, "--duck-depth", "12", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ducking"]["regions"] == 2 and s["ducking"]["source"] == "speech.csv"
    assert s["music_lufs"] == pytest.approx(-23.0, abs=0.5) and s["true_peak_dbtp"] <= -1.0
    out = tmp_path / f"{stem}.scored.mkv"
    assert framemd5(out) == framemd5(shifted)
    with av.open(str(out)) as c:
        titles = [st.metadata.get("title", "") for st in c.streams.audio]
    assert len(titles) == 2 and "score" in titles[0].lower() and "production" in titles[1].lower()
    assert abs(first_pts(out, "audio", 0) - first_pts(out, "video")) <= 0.001
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0,oops\n")
    r = run_cli("render", scored / f"{stem}.score.mid", "-o", tmp_path / "x", "--duck-regions", bad)
    assert r.returncode == 2 and "bad.csv:1" in r.stderr and not (tmp_path / "x").exists()


def test_ducks_under_speech_regions_from_the_analysis(scored, clip25, tmp_path):
    stem = clip25.path.stem
    for suffix in (".score.mid", ".timeline.json", ".analysis.json"):
        shutil.copy(scored / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    a_path = tmp_path / f"{stem}.analysis.json"
    analysis = json.loads(a_path.read_text())
    analysis["audio"]["speech"] = [{"start_sec": 3.0, "end_sec": 6.0}]
    a_path.write_text(json.dumps(analysis))
    tl_path = tmp_path / f"{stem}.timeline.json"
    tl = json.loads(tl_path.read_text())
    tl["analysis_path"] = str(a_path)
    tl_path.write_text(json.dumps(tl))
    r = run_cli("render", tmp_path / f"{stem}.score.mid", "--tracks", "mixed", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ducking"] == {"regions": 1, "source": a_path.name, "depth_db": 10.0, "attack_sec": 0.3,
                            "release_sec": 0.8}
    assert s["audio_tracks"][0].startswith("Temp score + production") and len(s["audio_tracks"]) == 2


def test_mux_encodes_array_and_wav_tracks_side_by_side_in_sync(scored, clip25, tmp_path):
    """mux() takes float arrays (encoded in threads) and WAV files (one ffmpeg each) together."""
    from tempscore.render.mix import write_wav
    from tempscore.render.mux import mux

    n = int(round(clip25.frames / float(clip25.fps) * SR))
    t = np.arange(n) / SR
    music = np.stack([0.2 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], 1).astype(np.float32)
    music[SR : SR + 48] = 0.9  # a click at 1 s
    wav = write_wav(tmp_path / "other.wav", music * 0.5, sr=SR)
    out = mux(clip25.path, [(music, "array track"), (wav, "wav track")], tmp_path / "o.mp4", sr=SR)
    assert framemd5(out) == framemd5(clip25.path)
    with av.open(str(out)) as c:
        titles = [st.metadata.get("title", st.metadata.get("name", "")) for st in c.streams.audio]
    assert titles[:2] == ["array track", "wav track"] and "Production audio (original)" in titles[2]
    for i, ref in ((0, music), (1, music * 0.5)):
        got = decode_audio(out, i)
        assert abs(len(got) - n) <= SR // 25  # within a video frame (AAC works in 1024-sample frames)
        assert abs(lag_samples(got[: 3 * SR], ref[: 3 * SR])) <= SR // 1000
        assert abs(first_pts(out, "audio", i) - first_pts(out, "video")) <= 0.001
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # encoder files cleaned up
    with pytest.raises(ValueError, match="sr"):
        mux(clip25.path, [(music, "x")], tmp_path / "p.mp4")


def test_track_encoder_encodes_once_from_the_first_submission_and_cleans_up(clip25, tmp_path, monkeypatch):
    """A track handed to the encoder early (the render's music, before the production mix) is the
    one muxed, encoded once; leaving the block by an error removes the encoder's folder."""
    import importlib

    mux_mod = importlib.import_module("tempscore.render.mux")  # (tempscore.render.mux is also the function)
    n = int(round(clip25.frames / float(clip25.fps) * SR))
    t = np.arange(n) / SR
    music = np.stack([0.2 * np.sin(2 * np.pi * 220 * t)] * 2, 1).astype(np.float32)
    calls: list[int] = []
    real = mux_mod.encode_array
    monkeypatch.setattr(mux_mod, "encode_array", lambda audio, *a, **k: (calls.append(id(audio)), real(audio, *a, **k)))
    out = tmp_path / "o.mp4"
    with mux_mod.TrackEncoder(out, sr=SR) as enc:
        enc.submit(music)
        enc.submit(music)  # the same array again: nothing new
        mux_mod.mux(clip25.path, [(music, "music")], out, sr=SR, encoder=enc)
    assert calls == [id(music)]
    got = decode_audio(out, 0)
    assert abs(lag_samples(got[: 2 * SR], music[: 2 * SR])) <= SR // 1000
    with pytest.raises(RuntimeError, match="boom"), mux_mod.TrackEncoder(tmp_path / "q.mp4", sr=SR) as enc:
        enc.submit(music)
        raise RuntimeError("boom")
    assert not (tmp_path / "q.mp4").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def _copy_to_render(scored: Path, tmp_path: Path) -> tuple:
    """A copy of the scored project (cache included), its MIDI, and ``render(*options)`` -> summary."""
    out = tmp_path / "copy"
    shutil.copytree(scored, out)
    mid = next(out.glob("*.score.mid"))

    def render(*extra: str) -> dict:
        r = run_cli("render", mid, "--json", *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    return out, mid, render


def test_a_render_with_nothing_changed_is_not_redone(scored, tmp_path):
    """Same MIDI, timeline, settings, soundfont and video, and the files as the render left them:
    `render` says up to date and writes nothing; any change (a setting, a deleted output) renders."""
    out, mid, render = _copy_to_render(scored, tmp_path)
    first = render()
    assert first["up_to_date"] is False and first["outputs"]["video"].startswith(str(out))  # another folder
    files = {k: Path(v).stat().st_mtime_ns for k, v in first["outputs"].items()}
    again = render()
    assert again["up_to_date"] is True and again["outputs"] == first["outputs"]
    assert again["music_lufs"] == first["music_lufs"] and again["audio_tracks"] == first["audio_tracks"]
    assert {k: Path(v).stat().st_mtime_ns for k, v in again["outputs"].items()} == files  # nothing written
    assert render("--lufs", "-20")["up_to_date"] is False  # another setting
    assert render("--lufs", "-20")["up_to_date"] is True
    Path(first["outputs"]["video"]).unlink()  # an output gone: rendered again
    redo = render("--lufs", "-20")
    assert redo["up_to_date"] is False and Path(redo["outputs"]["video"]).is_file()


def test_render_into_a_new_output_folder(scored, clip25, tmp_path):
    """`render -o DIR` with DIR not there yet (once: an internal error from the track encoder's temp folder)."""
    stem = clip25.path.stem
    out = tmp_path / "new" / "folder"
    r = run_cli("render", scored / f"{stem}.score.mid", "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert (out / f"{stem}.scored.mp4").is_file() and (out / f"{stem}.score.wav").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_a_small_edit_re_encodes_only_what_changed_and_stays_in_sync(scored, tmp_path):
    """A DAW edit of a few notes (a little quieter): the music's gain is held (loudness within the
    0.5 LU tolerance), so only the changed stretch is AAC-encoded again, spliced into the previous
    encode; the muxed tracks still match the new WAV, sample-aligned. --loudness-hold 0 normalises
    exactly and encodes it all."""
    import mido

    out, mid, render = _copy_to_render(scored, tmp_path)
    first = render()  # seeds this folder's cache with its encodes
    assert set(first["aac_tracks"]) == {"music", "mix"}
    mf = mido.MidiFile(str(mid))  # the notes' velocities in ticks 55-65 % of the way through, nothing else
    end_tick = max(sum(m.time for m in tr) for tr in mf.tracks)
    edited = 0
    for tr in mf.tracks:
        tick = 0
        for m in tr:
            tick += m.time
            if m.type == "note_on" and m.velocity > 0 and 0.55 * end_tick <= tick < 0.65 * end_tick:
                m.velocity = max(1, m.velocity - 12)
                edited += 1
    assert edited
    mf.save(str(mid))
    r = render()
    assert all(v.startswith("spliced") for v in r["aac_tracks"].values()), r["aac_tracks"]
    enc, total = (int(x) for x in r["aac_tracks"]["music"].split(", ")[1].split()[0].split("/"))
    assert enc < 0.6 * total
    assert abs(r["music_lufs"] - r["target_lufs"]) <= 0.5 and r["gain_db"] == first["gain_db"]
    assert "previous render's gain" in r["gain_held"]
    wav = read_wav(out / f"{mid.name.removesuffix('.score.mid')}.score.wav")
    music = decode_audio(r["outputs"]["video"], 1)  # the "score only" track
    assert lag_samples(music[: len(wav)], wav) == 0
    err = music[: len(wav)] - wav
    assert 10 * np.log10(np.mean(err**2) / np.mean(wav**2)) < -20  # AAC noise, not a stale or shifted stretch
    exact = render("--loudness-hold", "0")
    assert abs(exact["music_lufs"] - exact["target_lufs"]) < 0.05 and exact["gain_held"] is False


def test_render_onto_a_picture_of_another_length_says_so(scored, clip2997, tmp_path):
    """--video with a picture of another length (a recut): rendered as asked, with a warning and
    a summary entry naming both lengths and the fix."""
    mid = next(scored.glob("*.score.mid"))
    r = run_cli("render", mid, "--video", clip2997.path, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    note = json.loads(r.stdout)["picture_mismatch"]
    assert clip2997.path.name in note and "tempscore score" in note
    assert "do not fit it" in " ".join(r.stderr.split())  # said on the terminal too


def test_a_scored_video_given_back_is_scored_from_its_own_audio(scored, clip25, tmp_path):
    """`tempscore score cut.scored.mp4` (tab completion offers it beside cut.mp4): the old temp-score
    tracks are not analysed, mixed under the new score, or copied as if they were production audio."""
    from tempscore.vision.audio import read_audio

    again = tmp_path / "again.mp4"
    shutil.copy(scored / f"{clip25.path.stem}.scored.mp4", again)
    with av.open(str(again)) as c:
        before = [st.metadata.get("title", st.metadata.get("name", "")) for st in c.streams.audio]
    assert before[2] == "Production audio (original)" and all(t.endswith("(tempscore)") for t in before[:2])
    got, _ = read_audio(again, sr=SR, mono=False)  # what analysis and the mix read: the original stream
    own, old_mix = decode_audio(again, 2), decode_audio(again, 0)
    k = min(len(got), len(own))
    assert np.abs(got[:k] - own[:k]).max() < 1e-6 and np.abs(got[:k] - old_mix[:k]).max() > 0.05
    r = run_cli("score", again, "--json")
    assert r.returncode == 0, r.stderr
    assert "scored before" in r.stderr and "left out" in r.stderr
    s = json.loads(r.stdout)
    want = ["Temp score + production audio (tempscore)", "Temp score only (tempscore)", "Production audio (original)"]
    assert s["render"]["audio_tracks"] == want
    with av.open(str(tmp_path / "again.scored.mp4")) as c:
        assert [st.metadata.get("title", st.metadata.get("name", "")) for st in c.streams.audio] == want
    assert json.loads((tmp_path / "again.analysis.json").read_text())["video"]["audio_streams"] == 1
    copied = decode_audio(tmp_path / "again.scored.mp4", 2)  # stream-copied: the same samples
    assert len(copied) == len(own) and np.array_equal(copied, own)


def test_mux_keeps_the_titles_of_the_pictures_own_audio(clip25, tmp_path):
    """A rough cut whose audio streams are named (an NLE export: "Dialogue") keeps those names."""
    from tempscore.render.mux import mux

    named = tmp_path / "named.mp4"
    run_ffmpeg(["-i", str(clip25.path), "-map", "0", "-c", "copy", "-metadata:s:a:0", "title=Dialogue", str(named)],
               what="naming the audio")
    n = int(round(clip25.frames / float(clip25.fps) * SR))
    music = np.zeros((n, 2), np.float32)
    out = mux(named, [(music, "Temp score (tempscore)")], tmp_path / "o.mp4", sr=SR)
    with av.open(str(out)) as c:
        titles = [st.metadata.get("title", st.metadata.get("name", "")) for st in c.streams.audio]
    assert titles == ["Temp score (tempscore)", "Dialogue"]


def top_level_boxes(path) -> list[str]:
    """The ISO-BMFF / QuickTime top-level atom types of ``path``, in file order."""
    out = []
    with open(path, "rb") as f:
        while head := f.read(8):
            size, kind = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            out.append(kind)
            if size == 0:
                break
            f.seek(size - 8, 1)
    return out


def test_mp4_index_at_the_front_mov_written_once(clip25, tmp_path):
    """An .mp4 plays in a browser while it loads (moov before mdat); a .mov, an editing
    application's file, is not rewritten a second time to get there."""
    from tempscore.render.mux import mux

    n = int(round(clip25.frames / float(clip25.fps) * SR))
    music = np.zeros((n, 2), np.float32)
    mov = tmp_path / "cut.mov"
    run_ffmpeg(["-i", str(clip25.path), "-map", "0", "-c", "copy", str(mov)], what="rewrapping")
    mp4_boxes = top_level_boxes(mux(clip25.path, [(music, "t")], tmp_path / "a.mp4", sr=SR))
    mov_boxes = top_level_boxes(mux(mov, [(music, "t")], tmp_path / "b.mov", sr=SR))
    assert mp4_boxes.index("moov") < mp4_boxes.index("mdat")
    assert mov_boxes.index("mdat") < mov_boxes.index("moov")


def test_render_says_when_the_midi_was_composed_from_an_earlier_timeline(scored, tmp_path):
    """compose writes what each cue was composed from into the MIDI; a timeline edited since (a
    cue's mood) is named by render, which renders the MIDI as it is; after compose it is quiet."""
    from tempscore.api.files import load_timeline
    from tempscore.render.midi import cue_digests, midi_cue_digests

    out, mid, render = _copy_to_render(scored, tmp_path)
    tl_path = mid.with_name(mid.name.replace(".score.mid", ".timeline.json"))
    assert midi_cue_digests(mid) == cue_digests(load_timeline(tl_path))
    assert "midi_older_than_timeline" not in render()
    tl = json.loads(tl_path.read_text())
    cue = next(c for c in tl["cues"] if not c["tacet"])
    cue["mood"] = next(m for m in ("tense", "serene") if m != cue["mood"])
    tl_path.write_text(json.dumps(tl))
    r = run_cli("render", mid, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["midi_older_than_timeline"] == [cue["id"]]
    assert f"changed since: {cue['id']}" in " ".join(r.stderr.split())
    assert run_cli("compose", tl_path).returncode == 0
    r = run_cli("render", mid, "--json")
    assert "midi_older_than_timeline" not in json.loads(r.stdout) and "composed from an earlier" not in r.stderr


def _subtitle_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(*c.streams.subtitles) if p.size]


def test_subtitles_are_copied_and_the_container_chosen_to_hold_them(clip25, tmp_path, caplog):
    """A rough cut's subtitles come through the mux as they are (an MP4's mov_text); a WebM's
    WebVTT, which an MP4 cannot hold, makes the scored video a Matroska file (VP9 + Opus alone
    get an MP4) instead of losing them; asked to leave them out, a warning names them."""
    import logging

    from tempscore.render.mux import mux, scored_extension, subtitle_streams_kept

    srt = tmp_path / "lines.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nHello there.\n\n2\n00:00:06,000 --> 00:00:08,000\nAgain.\n")
    with_subs = tmp_path / "subs.mp4"
    run_ffmpeg(["-i", str(clip25.path), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
                str(with_subs)], what="adding subtitles")
    music = (np.random.default_rng(0).standard_normal((int(clip25.frames / clip25.fps * SR), 2)) * 0.05).astype(np.float32)
    out = mux(with_subs, [(music, "Temp score (tempscore)")], tmp_path / "subs.scored.mp4", sr=SR)
    got = _subtitle_packets(out)
    assert got == _subtitle_packets(with_subs) and b"Hello there." in b"".join(got) and b"Again." in b"".join(got)
    webm = tmp_path / "cut.webm"
    run_ffmpeg(["-i", str(clip25.path), "-t", "3", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                "-c:a", "libopus", str(webm)], what="encoding a webm")
    assert scored_extension(webm) == ".mp4"
    webvtt = tmp_path / "subs.webm"
    run_ffmpeg(["-i", str(webm), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "webvtt", str(webvtt)],
               what="adding WebVTT")
    assert scored_extension(webvtt) == ".mkv"
    out = mux(webvtt, [(music[: 3 * SR], "Temp score (tempscore)")], tmp_path / "subs.scored.mkv", sr=SR)
    assert _subtitle_packets(out) == _subtitle_packets(webvtt) == [b"Hello there.", b"Again."]
    with av.open(str(webvtt)) as c, caplog.at_level(logging.WARNING, logger="tempscore.render.mux"):
        assert subtitle_streams_kept(c, Path("x.mp4")) == []
    assert "subtitle stream 2 (webvtt" in caplog.text and "left out" in caplog.text


def test_compose_and_render_report_their_progress_phase_by_phase(scored, clip25, tmp_path):
    """What the progress bars show: compose counts the cues written; render goes through its
    phases in order, synthesis by sections, and the encoding in seconds of audio up to all the
    tracks' length, never backwards."""
    from tempscore.api import compose, render

    stem = clip25.path.stem
    for suffix in (".timeline.json", ".analysis.json"):
        shutil.copy(scored / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    calls: list[tuple] = []
    c = compose(tmp_path / f"{stem}.timeline.json", seed=2, progress=lambda stage, *a: calls.append(a))
    cues = len(c.summary.cue_report)
    assert calls and calls[-1] == ("writing cues", cues, cues)
    assert [k for _, k, _ in calls] == list(range(1, cues + 1))
    calls.clear()
    r = render(Path(c.outputs["midi"]), progress=lambda stage, *a: calls.append(a))
    phases = [p for i, (p, _, _) in enumerate(calls) if i == 0 or calls[i - 1][0] != p]
    assert phases == ["synthesising", "reverb", "loudness", "production mix", "encoding audio", "muxing"], phases
    synth = [(d, t) for p, d, t in calls if p == "synthesising"]
    assert synth[0][0] == 0 and all(d <= t for d, t in synth) and synth[-1][0] >= 1
    enc = [(d, t) for p, d, t in calls if p == "encoding audio"]
    ours = sum("(tempscore)" in title for title in r.summary.audio_tracks)  # not the production copy
    length = ours * clip25.frames / clip25.fps
    assert all(b[0] >= a[0] for a, b in zip(enc, enc[1:])) and {t for _, t in enc} == {enc[-1][1]}
    assert enc[-1][0] == enc[-1][1] == pytest.approx(float(length), abs=0.1)


def test_cover_art_is_kept_where_the_container_holds_it(clip25, tmp_path):
    """A rough cut's cover picture (an attached picture) comes through the mux byte for byte, still
    cover art, and the picture stays the first video stream: as a stream in an MP4, as an
    attachment (with its file name and type) in a Matroska file, whichever the cut was; nothing
    of the temporary copy is left."""
    from tempscore.render.mux import mux

    cover = tmp_path / "cover.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=160x90:rate=1", "-frames:v", "1", str(cover)], what="a cover")
    mp4 = tmp_path / "covered.mp4"
    run_ffmpeg(["-i", str(clip25.path), "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy",
                "-disposition:v:1", "attached_pic", str(mp4)], what="adding a cover")
    mkv = tmp_path / "attached.mkv"
    run_ffmpeg(["-i", str(clip25.path), "-attach", str(cover), "-metadata:s:t", "mimetype=image/png",
                "-metadata:s:t", "filename=poster.png", "-map", "0", "-c", "copy", str(mkv)], what="attaching a cover")
    music = (np.random.default_rng(0).standard_normal((int(clip25.frames / clip25.fps * SR), 2)) * 0.05).astype(np.float32)

    def covers(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            pics = [s for s in c.streams.video if s.disposition & av.stream.Disposition.attached_pic]
            return [bytes(p) for s in pics for p in c.demux(s) if p.size]

    assert covers(mp4) == covers(mkv) == [cover.read_bytes()]
    for src, ext in ((mp4, ".mp4"), (mp4, ".mkv"), (mkv, ".mkv"), (mkv, ".mp4")):
        out = mux(src, [(music, "Temp score (tempscore)")], tmp_path / f"{src.stem}.scored{ext}", sr=SR)
        assert covers(out) == [cover.read_bytes()], (src.name, ext)
        with av.open(str(out)) as c:
            first = c.streams.video[0]
            assert first.codec_context.name == "h264" and not first.disposition & av.stream.Disposition.attached_pic
            assert len(c.streams.audio) == 2
            if ext == ".mkv" and src is mkv:
                assert c.streams.video[1].metadata.get("filename") == "poster.png"
        assert not [p for p in tmp_path.iterdir() if "tempscore-" in p.name], (src.name, ext)
