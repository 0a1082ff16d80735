"""Bad input, each row: one clear line naming the file and the fix, exit 2, nothing partial left behind,
the input untouched. Plus a fuzz test of the timeline loader."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from conftest import SAMPLE, run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.clips import ffmpeg_exe, make_cut_clip, run_ffmpeg
from tempscore.api.files import load_timeline
from tempscore.contracts import TIMELINE_SCHEMA
from tempscore.errors import BadStageFile


def _truncated(tmp: Path) -> Path:
    p = tmp / "truncated.mp4"
    data = SAMPLE.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _one_frame(tmp: Path) -> Path:
    p = tmp / "one frame.mp4"
    make_cut_clip(p, [1], fps=25, audio=False, size=(64, 36))
    return p


def _image(tmp: Path) -> Path:
    png = tmp / "still.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x36", "-frames:v", "1", str(png)], what="png")
    p = tmp / "picture.mp4"
    shutil.copy(png, p)
    return p


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


BAD = {
    "missing": lambda tmp: tmp / "does-not-exist.mp4",
    "empty": lambda tmp: _write(tmp, "empty.mp4", b""),
    "text renamed .mp4": lambda tmp: _write(tmp, "notes.mp4", b"hello\n"),
    "image renamed .mp4": _image,
    "truncated mp4": _truncated,
    "one frame": _one_frame,
    "directory": lambda tmp: tmp,
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_video_input(case, tmp_path, audio_only):
    src = tmp_path / "in"
    src.mkdir()
    target = audio_only if case == "audio only" else BAD[case](src)
    before = target.read_bytes() if target.is_file() else None
    out = tmp_path / "out"
    r = run_cli("score", target, "-o", out)
    assert r.returncode == 2, (case, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tempscore: error:"), r.stderr
    assert str(target.name) in lines[0] or case == "directory"
    assert "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())
    if before is not None:
        assert target.read_bytes() == before


@pytest.mark.parametrize("case", ["empty", "text renamed .mp4"])
def test_a_refused_input_leaves_its_folder_as_it_was(case, tmp_path):
    """Scored where it lies (no -o), a file that is refused adds nothing beside it: no outputs, no
    cache folder, no lock file."""
    target = BAD[case](tmp_path)
    r = run_cli("score", target)
    assert r.returncode == 2, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_audio_only_input(tmp_path, audio_only):
    r = run_cli("score", audio_only, "-o", tmp_path / "out")
    assert r.returncode == 2 and "no video stream" in r.stderr


@pytest.mark.parametrize("size", [(2, 2), (360, 640), (3840, 2160)], ids=["2x2", "portrait", "4K"])
def test_odd_sizes_score(size, tmp_path):
    p = tmp_path / f"clip {size[0]}x{size[1]}.mp4"
    make_cut_clip(p, [30, 30], fps=25, audio=False, size=size, looks=["color=c=red", "color=c=blue"])
    r = run_cli("score", p, "-o", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["analyze"]["frames"] == 60


#: Rough cuts in other containers: (file name, ffmpeg codec options, container the scored video gets)
OTHER_CONTAINERS = [
    ("avid.mxf", ["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p", "-c:a", "pcm_s24le"], ".mov"),
    ("old.wmv", ["-c:v", "wmv2", "-c:a", "wmav2"], ".mkv"),
    ("camera.mts", ["-c:v", "libx264", "-c:a", "ac3"], ".mp4"),
    ("capture.avi", ["-c:v", "mjpeg", "-c:a", "pcm_s16le"], ".mov"),
]


@pytest.mark.parametrize("name,codecs,ext", OTHER_CONTAINERS, ids=[c[0] for c in OTHER_CONTAINERS])
def test_other_containers_get_a_container_that_holds_their_streams(tmp_path, name, codecs, ext):
    """MP4 cannot hold DNxHD (an Avid MXF) or WMV2, and editing applications do not read PCM from it:
    the scored video is a .mov or .mkv then, with the picture and the production audio copied."""
    src = tmp_path / name
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=256x144:rate=25:duration=3", "-f", "lavfi", "-i",
                    "sine=f=440:sample_rate=48000:d=3", *codecs, str(src)], check=True)
    r = run_cli("score", src, "-o", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / f"{src.stem}.scored{ext}"
    assert json.loads(r.stdout)["outputs"]["video"] == str(out)
    with av.open(str(src)) as c:
        v_codec, a_codec = c.streams.video[0].codec_context.name, c.streams.audio[0].codec_context.name
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == v_codec
        assert [s.codec_context.name for s in c.streams.audio] == ["aac", "aac", a_codec]
        assert sum(f.samples for f in c.decode(audio=0)) == pytest.approx(3 * 48000, abs=1024)


def test_trim_by_stream_copy_is_not_taken_for_a_truncated_file(tmp_path):
    """`ffmpeg -ss 3.3 -c copy` keeps the packets from the keyframe before 3.3 s and hides them with
    an edit list: the container stores 200 frames, 117 play. Analysed and scored as the 117 that
    play (once refused as 'only 117 of 200 frames could be decoded')."""
    full = tmp_path / "full.mov"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=25:duration=8", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=8",
                    "-c:v", "libx264", "-g", "250", "-c:a", "aac", str(full)], check=True)
    trim = tmp_path / "trim.mov"
    run_ffmpeg(["-ss", "3.3", "-i", str(full), "-c", "copy", str(trim)], what="trimming")
    with av.open(str(trim)) as c:
        stored, played = c.streams.video[0].frames, sum(1 for _ in c.decode(video=0))
    assert stored > played + 50
    r = run_cli("score", trim, "-o", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["analyze"]["frames"] == played
    with av.open(str(tmp_path / "out" / "trim.scored.mov")) as c:
        assert sum(1 for _ in c.decode(video=0)) == played


def test_spaces_and_non_ascii_paths(tmp_path):
    d = tmp_path / "Rough cuts – été 2026"
    d.mkdir()
    p = d / "scène 1 (v2).mp4"
    make_cut_clip(p, [30, 40], fps=25, size=(160, 90))
    r = run_cli("score", p, "--edl", "--otio")
    assert r.returncode == 0, r.stderr
    assert (d / "scène 1 (v2).scored.mp4").is_file() and (d / "scène 1 (v2).edl").is_file()


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes")
def test_a_file_name_that_is_not_utf8(tmp_path):
    """A name from a Latin-1 share (b"caf\\xe9.mp4") scores like any other (it crashed hashing the
    project lock's name)."""
    d = os.fsencode(tmp_path)
    make_cut_clip(tmp_path / "plain.mp4", [30, 40], fps=25, size=(160, 90))
    os.rename(os.path.join(d, b"plain.mp4"), os.path.join(d, b"caf\xe9.mp4"))
    video = os.fsdecode(os.path.join(d, b"caf\xe9.mp4"))
    for _ in range(2):  # and again: the re-run reads its own files back
        r = run_cli("score", video, "--json")
        assert r.returncode == 0, r.stderr
    assert os.path.isfile(os.path.join(d, b"caf\xe9.scored.mp4"))
    assert json.loads(r.stdout)["render"]["up_to_date"]


def test_long_file_names(tmp_path):
    """A long name whose outputs still fit (255 bytes) scores, although the temporary names beside
    them would not fit whole; one whose outputs cannot exist is refused at once, nothing written."""
    fits = tmp_path / ("a" * 233 + ".mp4")  # <stem>.stem-percussion.wav: 253 bytes
    make_cut_clip(fits, [30, 40], fps=25, size=(160, 90))
    r = run_cli("score", fits)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ("a" * 233 + ".scored.mp4")).is_file()
    too_long = tmp_path / "long" / ("b" * 245 + ".mp4")
    too_long.parent.mkdir()
    shutil.copy(fits, too_long)
    r = run_cli("score", too_long)
    assert r.returncode == 2 and "name too long" in r.stderr and "shorter name" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in too_long.parent.iterdir()) == [too_long.name]


def test_output_option_naming_a_file_is_refused(tmp_path, clip25):
    """`-o final.mp4` (a file name where a folder goes) once made a folder called final.mp4."""
    r = run_cli("score", clip25.path, "-o", tmp_path / "final.mp4")
    assert r.returncode == 2 and "-o takes a folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "final.mp4").exists()
    (tmp_path / "taken.mov").write_bytes(b"x")
    r = run_cli("analyze", clip25.path, "-o", tmp_path / "taken.mov")
    assert r.returncode == 2 and "not a directory" in r.stderr


@pytest.fixture(scope="module")
def staged(tmp_path_factory, clip25) -> Path:
    out = tmp_path_factory.mktemp("staged")
    assert run_cli("analyze", clip25.path, "-o", out).returncode == 0
    assert run_cli("plan", out / f"{clip25.path.stem}.analysis.json").returncode == 0
    return out


@pytest.mark.parametrize("command,given,words", [
    ("plan", "video", "run `tempscore analyze {video}` first"),
    ("compose", "video", "run `tempscore plan"),
    ("compose", "analysis", "is an analysis file; this command takes <stem>.timeline.json"),
    ("plan", "timeline", "is a timeline file; this command takes <stem>.analysis.json"),
    ("render", "timeline", "is not a MIDI file; render takes <stem>.score.mid"),
    ("render", "video", "is not a MIDI file"),
])
def test_a_file_given_to_the_wrong_stage_says_which_goes_there(staged, clip25, command, given, words):
    path = {"video": clip25.path, "analysis": staged / f"{clip25.path.stem}.analysis.json",
            "timeline": staged / f"{clip25.path.stem}.timeline.json"}[given]
    r = run_cli(command, path)
    words = words.format(video=clip25.path)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_config_written_with_a_byte_order_mark_is_read(staged, clip25, tmp_path):
    """Windows editors save UTF-8 with a BOM; tomllib alone refuses it."""
    (tmp_path / "tempscore.toml").write_bytes(b"\xef\xbb\xbf[plan]\ntempo_range = \"100-110\"\n")
    r = run_cli("plan", staged / f"{clip25.path.stem}.analysis.json", "-o", tmp_path / "o", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert all(99 <= c["tempo_bpm"] <= 111 for c in json.loads(r.stdout)["cues"])


@pytest.mark.parametrize("option", [
    ["--variants", "-1"], ["--variants", "9"], ["--seed", "-5"], ["--seed", "3000000000"], ["--lufs", "5"],
    ["--tempo-range", "140-60"], ["--duck-depth", "100"], ["--max-ramp", "50"], ["--beats-per-bar", "0"],
    ["--subdivision", "5"], ["--mood", "1M1=angry"], ["--style", "polka"], ["--min-cue-sec", "0"],
    ["--temperature", "0"], ["--top-p", "2"], ["--tracks", "both"], ["--true-peak", "3"],
], ids=lambda o: " ".join(o))
def test_bad_option_values_are_one_line_and_write_nothing(tmp_path, clip25, option):
    """(--variants -1 once ran as if 0; --seed -5 was an internal error.)"""
    r = run_cli("score", clip25.path, "-o", tmp_path / "out", *option)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("tempscore: error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert option[0] in r.stderr or option[1] in r.stderr or "tempo range" in r.stderr or "ramp" in r.stderr \
        or "beats per bar" in r.stderr or "subdivision" in r.stderr or "cue length" in r.stderr, r.stderr
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.iterdir() if p.suffix in (".mp4", ".wav", ".mid")]


def test_read_only_output_directory(tmp_path, clip25):
    r = run_cli("score", clip25.path, "-o", "/proc/tempscore-cannot-write-here")
    assert r.returncode == 2, r.stderr
    assert "cannot write" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_interrupt_leaves_nothing_half_written_and_rerun_resumes(tmp_path):
    p = tmp_path / "long.mp4"
    make_cut_clip(p, [250] * 8, fps=25, size=(640, 360))
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "score", str(p), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # a machine fast enough to finish before the signal
        assert (out / "long.scored.mp4").is_file()
    else:
        assert proc.returncode == 130 and b"interrupted" in err, err
    leftovers = [f.name for f in out.glob("*")] if out.exists() else []
    assert not [f for f in leftovers if ".tmp" in f], leftovers
    r = run_cli("score", p, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert (out / "long.scored.mp4").is_file()


def test_a_ctrl_c_after_the_run_has_decided_its_status_does_not_kill_it_with_sigint():
    """Once the process's own run has returned its status, a Ctrl+C while the interpreter tears
    down (freeing a film's audio, joining threads) is ignored: the status stays 0 or 130, never
    death by SIGINT (-2). Called in process (tests, the page), main leaves the handler alone."""
    code = ("import signal, sys; from tempscore.cli import main; sys.argv = ['tempscore', 'version']; "
            "c = main(); print(c, signal.getsignal(signal.SIGINT) is signal.SIG_IGN); "
            "c = main(['version']); print(c)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()  # (each `version` prints the version first)
    assert "0 True" in lines and lines[-1] == "0", r.stdout


def test_ctrl_c_is_exit_130_never_a_silent_0(monkeypatch, capsys, tmp_path):
    """Typer hands back Ctrl+C as an exit code outside standalone mode; main must not drop it."""
    from tempscore import api, cli

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "plan", interrupted)
    assert cli.main(["plan", str(tmp_path / "whatever.analysis.json")]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing made beside a file that is not there


def test_audio_analysis_stops_when_asked(clip25):
    """Beside the picture pass, the audio stops at its next block once the picture pass fails or is
    interrupted (a whole film's audio is not waited for)."""
    import threading

    from tempscore.vision.audio import AudioAnalysisStopped, analyze_audio

    stop = threading.Event()
    stop.set()
    with pytest.raises(AudioAnalysisStopped):
        analyze_audio(clip25.path, stop=stop)
    assert analyze_audio(clip25.path, stop=threading.Event()).present


# ----------------------------------------------------------------------------- timeline files
def _valid_project(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tl")
    p = tmp / "v.mp4"
    make_cut_clip(p, [40, 50, 40], fps=25, size=(160, 90), audio=False)
    assert run_cli("analyze", p, "-o", tmp).returncode == 0
    assert run_cli("plan", tmp / "v.analysis.json").returncode == 0
    return tmp


@pytest.fixture(scope="module")
def valid_project(tmp_path_factory) -> Path:
    return _valid_project(tmp_path_factory)


@pytest.fixture(scope="module")
def valid_tl(valid_project) -> dict:
    return json.loads((valid_project / "v.timeline.json").read_text())


@pytest.mark.parametrize("edit,field", [
    (lambda t: t["cues"][0].__setitem__("start_sec", -3), "cues[0]"),
    (lambda t: t["cues"][0].__setitem__("tempo_bpm", "120"), "cues[0].tempo_bpm"),
    (lambda t: t.__setitem__("schema", "tempscore.timeline/99"), "schema"),
    (lambda t: t["cues"].append(dict(t["cues"][0])), "cues[1]"),
    (lambda t: t["hit_points"].append({"frame": -5, "kind": "user"}), "hit_points"),
    (lambda t: t.__setitem__("cues", "lots"), "cues"),
    (lambda t: t.__setitem__("cues", []), "tacet"),  # every cue deleted: says how to ask for no music
    (lambda t: t["cues"][0].__setitem__("orchestration", "kazoo"), "cues[0].orchestration"),
    (lambda t: t["cues"][0].__setitem__("orchestration", 3), "cues[0].orchestration"),
    (lambda t: t["cues"][0].__setitem__("recalls", "9M9"), "cues[0].recalls"),
    (lambda t: t["cues"][0].__setitem__("title", "two\nlines"), "cues[0].title"),
    (lambda t: t["cues"][0].__setitem__("title", "x" * 81), "cues[0].title"),
    (lambda t: t["cues"][0].__setitem__("beats_per_bar", 1), "cues[0].beats_per_bar"),
    *[(lambda t, tc=tc: t.__setitem__("hit_points", [{"frame": 50, "time_sec": 2.0, "kind": "user", "strength": 1.0,
                                                     "timecode": tc}]),
       "hit_points[0].timecode") for tc in ("00:00:01:2x", "00:00:01:25", "00:09:00:00")],
])
def test_hand_broken_timeline_names_the_field(valid_tl, tmp_path, edit, field):
    t = json.loads(json.dumps(valid_tl))
    edit(t)
    p = tmp_path / "v.timeline.json"
    p.write_text(json.dumps(t))
    with pytest.raises(BadStageFile) as e:
        load_timeline(p)
    assert field.split("[")[0] in str(e.value)
    if "." in field:  # a cue's field: named exactly
        assert f"{field}:" in str(e.value)


@pytest.mark.parametrize("field,written,kept", [
    *[("key", w, k) for w, k in [("C#m", "C# minor"), ("eb minor", "Eb minor"), ("E♭", "Eb major"),
                                 ("f sharp minor", "F# minor"), ("Bb Major", "Bb major"), ("Am", "A minor"),
                                 ("CM", "C major"), ("b-flat min", "Bb minor")]],
    *[("mood", w, k) for w, k in [("Tense", "tense"), (" serene ", "serene"), ("SOMBRE", "sombre")]]])
def test_keys_and_moods_as_people_write_them(valid_tl, tmp_path, field, written, kept):
    """Keys as musicians write them, moods in any case or with stray spaces: kept in one spelling."""
    t = json.loads(json.dumps(valid_tl))
    t["cues"][0][field] = written
    p = tmp_path / "v.timeline.json"
    p.write_text(json.dumps(t))
    assert getattr(load_timeline(p).cues[0], field) == kept


@pytest.mark.parametrize("key", ["H minor", "E# major", "C blues", "minor", "", "Cmm"])
def test_not_a_key_names_the_field(valid_tl, tmp_path, key):
    t = json.loads(json.dumps(valid_tl))
    t["cues"][0]["key"] = key
    p = tmp_path / "v.timeline.json"
    p.write_text(json.dumps(t))
    with pytest.raises(BadStageFile, match=r"cues\[0\]\.key"):
        load_timeline(p)


def test_a_hand_edit_that_breaks_the_json_says_where(valid_tl, tmp_path):
    p = tmp_path / "v.timeline.json"
    p.write_text(json.dumps(valid_tl, indent=1)[:-2] + ",\n}")  # a trailing comma after the last field
    with pytest.raises(BadStageFile, match=r"not valid JSON \(.*line \d+ column \d+.*\); correct it there"):
        load_timeline(p)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                       max_leaves=8)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_timeline_loader_fuzz(valid_tl, tmp_path, data):
    """Random corruptions of a valid timeline: the loader returns a valid timeline or raises BadStageFile."""
    t = json.loads(json.dumps(valid_tl))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.sampled_from(["top", "cue", "hit", "tempo", "video"]))
        value = data.draw(JSONISH)
        if where == "top":
            t[data.draw(st.sampled_from([*list(t), "extra"]))] = value
        elif where == "cue" and isinstance(t.get("cues"), list) and t["cues"] and isinstance(t["cues"][0], dict) and t["cues"][0]:
            t["cues"][0][data.draw(st.sampled_from(list(t["cues"][0])))] = value
        elif where == "hit" and isinstance(t.get("hit_points"), list) and t["hit_points"] and isinstance(t["hit_points"][0], dict) and t["hit_points"][0]:
            t["hit_points"][0][data.draw(st.sampled_from(list(t["hit_points"][0])))] = value
        elif where == "tempo" and isinstance(t.get("tempo_map"), list) and t["tempo_map"] and isinstance(t["tempo_map"][0], dict) and t["tempo_map"][0]:
            t["tempo_map"][0][data.draw(st.sampled_from(list(t["tempo_map"][0])))] = value
        elif where == "video" and isinstance(t.get("video"), dict) and t["video"]:
            t["video"][data.draw(st.sampled_from(list(t["video"])))] = value
    p = tmp_path / "fuzz.timeline.json"
    p.write_text(json.dumps(t))
    try:
        tl = load_timeline(p)
    except BadStageFile:
        return
    assert tl.schema == TIMELINE_SCHEMA and tl.cues


@pytest.fixture(scope="module")
def generator():
    from tempscore.models.generator import Generator

    return Generator.load()


#: Plausible hand edits per cue field (and now and then anything at all).
CUE_EDITS = {
    "start_frame": st.integers(-2, 135), "end_frame": st.integers(-2, 135),
    "start_sec": st.floats(-0.5, 5.5), "end_sec": st.floats(-0.5, 5.5), "beats_per_bar": st.integers(1, 13),
    "tempo_bpm": st.floats(10, 320), "intensity": st.floats(-0.1, 1.1), "valence": st.floats(-1.1, 1.1),
    "beats": st.integers(-1, 40), "start_bar": st.integers(-1, 20),
    "locked": st.booleans(), "tempo_locked": st.booleans(), "edges_locked": st.booleans(), "tacet": st.booleans(),
    "recalls": st.sampled_from(["", "1M1", "2M1", "3M1", "leader"]),
    "orchestration": st.sampled_from(["", "solo cello", "horn & strings", "kazoo", "solo", "celli"]),
    "key": st.sampled_from(["C# minor", "Gb major", "H minor", "Am"]), "seed": st.integers(-2, 2**40),
    "mood": st.sampled_from(["tense", "serene", "excited", "sombre", "happy"]),
    "title": st.sampled_from(["", "The Chase", "x" * 81]), "id": st.sampled_from(["The Chase", "2M1", "leader", ""]),
    "auto.start_sec": st.floats(-0.5, 5.5), "auto.start_frame": st.integers(-2, 135),
    "auto.recalls": st.sampled_from(["", "1M1", 3]), "auto.tempo_bpm": st.floats(10, 320),
    "auto.beats_per_bar": st.integers(1, 13), "why.recall": JSONISH, "why.edited": JSONISH,
    "hit.timecode": st.sampled_from(["00:00:01:10", "00:00:04:24", "00:00:01;02", "bad", "00:00:01.500"]),
    "hit.time_sec": st.floats(-1, 6), "hit.frame": st.integers(-1, 135),
}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_planning_over_hand_edited_cues_fuzz(valid_project, generator, tmp_path, data):
    """Bounded in the default suite; ``-m slow`` runs 600 examples (:func:`test_planning_over_hand_edited_cues_fuzz_long`)."""
    _plan_over_hand_edits(valid_project, generator, tmp_path, data)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_planning_over_hand_edited_cues_fuzz_long(valid_project, generator, tmp_path, data):
    _plan_over_hand_edits(valid_project, generator, tmp_path, data)


def _plan_over_hand_edits(valid_project, generator, tmp_path, data):
    """Random hand edits of the cues' fields (edges in frames and seconds, metre, tempo, recalls,
    orchestration, auto, why ...): a timeline the loader accepts is planned again without an
    unhandled exception (a TempscoreError names what is wrong), the plan it writes loads, the
    trained generator composes it, and it plans again as it was."""
    from tempscore.contracts import ANALYSIS_SCHEMA, Analysis, read_stage, to_json
    from tempscore.errors import TempscoreError
    from tempscore.models import compose
    from tempscore.scoring import plan

    t = json.loads((valid_project / "v.timeline.json").read_text())
    for _ in range(data.draw(st.integers(1, 4))):
        cue = t["cues"][data.draw(st.integers(0, len(t["cues"]) - 1))]
        field = data.draw(st.sampled_from(sorted(CUE_EDITS)))
        value = data.draw(CUE_EDITS[field] if data.draw(st.integers(0, 9)) else JSONISH)
        outer, _, inner = field.partition(".")
        if outer == "hit":
            if t["hit_points"]:
                t["hit_points"][data.draw(st.integers(0, len(t["hit_points"]) - 1))][inner] = value
        elif inner and isinstance(cue.get(outer), dict):
            cue[outer][inner] = value
        elif not inner:
            cue[field] = value
    p = tmp_path / "v.timeline.json"
    p.write_text(json.dumps(t))
    try:
        previous = load_timeline(p)
    except BadStageFile:
        event("the loader refused it")
        return
    analysis = read_stage(valid_project / "v.analysis.json", Analysis, ANALYSIS_SCHEMA)
    try:
        tl = plan(analysis, previous=previous)
    except TempscoreError:
        event("plan refused it (TempscoreError)")
        return
    event("planned")
    p.write_text(to_json(tl))
    tl = load_timeline(p)
    score = compose(tl, seed=data.draw(st.integers(0, 3)), composer="auto", generator=generator)
    assert all(tl.cues[0].start_sec - 1e-6 <= n.start_sec for part in score.parts for n in part.notes)
    again = plan(analysis, previous=tl)
    assert [(c.id, c.start_frame, c.end_frame, c.beats_per_bar) for c in again.cues] == [
        (c.id, c.start_frame, c.end_frame, c.beats_per_bar) for c in tl.cues]


def test_full_disk_is_a_user_error_and_leaves_no_temp_files(tmp_path, clip25):
    out = tmp_path / "tiny"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(out)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        r = run_cli("score", clip25.path, "-o", out)
        assert r.returncode == 2, r.stderr
        assert "space" in r.stderr.lower() and len(r.stderr.strip().splitlines()) == 1
        assert not [f for f in os.listdir(out) if ".tmp" in f]
    finally:
        subprocess.run(["umount", str(out)], capture_output=True)


def test_analysis_cache_follows_settings(tmp_path, clip25):
    r1 = run_cli("analyze", clip25.path, "-o", tmp_path, "--json")
    r2 = run_cli("analyze", clip25.path, "-o", tmp_path, "--json")
    r3 = run_cli("analyze", clip25.path, "-o", tmp_path, "--no-dialogue", "--json")
    assert [json.loads(r.stdout)["cached"] for r in (r1, r2, r3)] == [False, True, False]
    # the key holds the detector "auto" resolved to, so an analysis is never reused as another method's
    from tempscore.vision.shots import resolve_method

    saved = json.loads((tmp_path / f"{clip25.path.stem}.analysis.json").read_text())["settings"]
    assert saved["shot_detector"] == resolve_method("auto") != "auto"
    r4 = run_cli("analyze", clip25.path, "-o", tmp_path, "--no-dialogue", "--shot-detector", resolve_method("auto"),
                 "--json")
    assert json.loads(r4.stdout)["cached"]  # naming the same method explicitly reuses it


def test_two_videos_with_the_same_name_do_not_overwrite_each_others_plan(tmp_path, clip25, clip2997):
    """a.mp4 and a.mov in one folder share the output names: the second is refused (its fix: -o),
    the first's analysis and plan untouched; a copy of the same picture, a recut at the same path
    and --fresh's replacement of one's own plan are not refused."""
    mp4, mov = tmp_path / "a.mp4", tmp_path / "a.mov"
    shutil.copy(clip25.path, mp4)
    shutil.copy(clip2997.path, mov)
    assert run_cli("analyze", mp4).returncode == 0
    assert run_cli("plan", tmp_path / "a.analysis.json").returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.glob("a.*.json")}
    r = run_cli("analyze", mov)
    assert r.returncode == 2 and "a.analysis.json" in r.stderr and "-o DIR" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("score", mov)
    assert r.returncode == 2 and "another video" in r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("a.*.json")} == before
    assert not list(tmp_path.glob("a.scored.*")) and not (tmp_path / "a.score.mid").exists()
    # the plan check on its own: a.mov's analysis made elsewhere, planned into this folder
    assert run_cli("analyze", mov, "-o", tmp_path / "elsewhere").returncode == 0
    for extra in ([], ["--fresh"]):
        r = run_cli("plan", tmp_path / "elsewhere" / "a.analysis.json", "-o", tmp_path, *extra)
        assert r.returncode == 2 and "a.timeline.json" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("a.*.json")} == before
    assert run_cli("score", mov, "-o", tmp_path / "elsewhere").returncode == 0  # the fix works
    # not refused: a copy (same picture, other name), a recut in place, --fresh on its own plan
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(mp4, copy / "a.mp4")
    shutil.copy(tmp_path / "a.analysis.json", copy / "a.analysis.json")
    assert run_cli("analyze", copy / "a.mp4").returncode == 0
    shutil.copy(clip2997.path, mp4)  # the editor re-exports a.mp4 with a new cut
    mov.unlink()
    assert run_cli("analyze", mp4).returncode == 0
    assert run_cli("plan", tmp_path / "a.analysis.json", "--fresh").returncode == 0


def test_a_name_with_a_colon_is_a_file_not_a_protocol(tmp_path, clip25):
    """`take:1.mp4` given relative (as a shell user types it): FFmpeg would read `take:` as a
    protocol; every open of a user's file goes by its absolute path."""
    shutil.copy(clip25.path, tmp_path / "take:1 = 'final' #2.mp4")
    shutil.copy(clip25.path, tmp_path / "ref:1.m4a")  # a reference track with a colon too (its audio is read)
    r = run_cli("score", "take:1 = 'final' #2.mp4", "-o", "out", "--reference", "ref:1.m4a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "take:1 = 'final' #2.scored.mp4").is_file()


def test_a_symlinked_video_gets_its_outputs_beside_the_link(tmp_path, clip25):
    """Media on shared (often read-only) storage, linked into the project folder: the outputs go
    to the project, beside the link, and the media folder is left as it was."""
    media, project = tmp_path / "media", tmp_path / "project"
    media.mkdir()
    project.mkdir()
    shutil.copy(clip25.path, media / "reel1.mp4")
    (project / "cut.mp4").symlink_to(media / "reel1.mp4")
    r = run_cli("analyze", "cut.mp4", cwd=project)
    assert r.returncode == 0, r.stderr
    assert (project / "cut.analysis.json").is_file()
    assert sorted(p.name for p in media.iterdir()) == ["reel1.mp4"]
