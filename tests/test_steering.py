"""Steering from the command line: --mood, --prompt, --style, --variants and pick."""

import json

import mido
import numpy as np
import pretty_midi
import pytest
from conftest import run_cli
from tempscore.errors import InvalidSettings
from tempscore.scoring.edits import parse_prompt


def test_prompt_parsing_names_unknown_words():
    ref, fields, unknown = parse_prompt("cue 2: C minor, 70 BPM, solo cello, melancholic, wobbly")
    assert ref.strip() == "cue 2"
    assert fields == {"key": "C minor", "tempo_bpm": 70.0, "orchestration": "solo cello", "mood": "sombre"}
    assert unknown == ["wobbly"]
    assert parse_prompt("3M1: Bb major, strings, triumphant")[1] == {"key": "Bb major", "orchestration": "strings",
                                                                     "mood": "excited"}
    with pytest.raises(InvalidSettings):
        parse_prompt("no cue here")
    assert parse_prompt("cue 1: C#m, 90 bpm")[1] == {"key": "C# minor", "tempo_bpm": 90.0}
    assert parse_prompt("cue 1: f sharp minor, strings")[1] == {"key": "F# minor", "orchestration": "strings"}
    assert parse_prompt("cue 1: Eb, a little tense")[1] == {"key": "Eb major", "mood": "tense"}


@pytest.mark.parametrize("brief,fields,unknown", [
    ("in C minor", {"key": "C minor"}, []),
    ("in the key of F sharp minor at 80 bpm", {"key": "F# minor", "tempo_bpm": 80.0}, []),
    ("key of D", {"key": "D major"}, []),
    ("C minor 70 BPM solo cello melancholic", {"key": "C minor", "tempo_bpm": 70.0, "orchestration": "solo cello",
                                               "mood": "sombre"}, []),
    ("♩=70", {"tempo_bpm": 70.0}, []), ("q = 132, in 5", {"tempo_bpm": 132.0, "beats_per_bar": 5}, []),
    ("tempo 90", {"tempo_bpm": 90.0}, []), ("70bpm", {"tempo_bpm": 70.0}, []),
    ("in 3/4", {"beats_per_bar": 3}, []), ("waltz, tender", {"beats_per_bar": 3, "mood": "serene"}, []),
    ("in 6/8", {}, ["in 6/8"]),
    ("celli and double bass", {"orchestration": "cello & bass"}, []), ("French horn", {"orchestration": "horn"}, []),
    ("solo piano and strings", {"orchestration": "solo piano & strings"}, []),
    ("Bb brass", {"key": "Bb major", "orchestration": "brass"}, []),
    ("a minor", {"key": "A minor"}, []),  # a key; but "a" in a sentence is a word:
    ("a little tense", {"mood": "tense"}, ["little"]), ("A mysterious opening", {"mood": "tense"}, ["opening"]),
    ("slow strings, sad", {"orchestration": "strings", "mood": "sombre"}, ["slow"]),
    ("no music", {"tacet": True}, []),
])
def test_briefs_as_composers_write_them(brief, fields, unknown):
    """Commas or none, key/tempo/metre spelled several ways, plural and two-word instruments; joining
    words are not named back, anything else not understood is."""
    assert parse_prompt(f"cue 2: {brief}")[1:] == (fields, unknown)


@pytest.fixture(scope="module")
def planned(clip_contrast, tmp_path_factory):
    out = tmp_path_factory.mktemp("steer")
    assert run_cli("analyze", clip_contrast.path, "-o", out).returncode == 0
    return out, clip_contrast.path.stem


def test_mood_and_prompt_edits_stick(planned):
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    r = run_cli("plan", an, "--fresh", "--mood", "cue 1=Tense", "--prompt", "cue 2: E minor, 90 BPM, solo cello, zorg",
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prompt_not_understood"] == ["zorg"]
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    c1, c2 = tl["cues"][0], tl["cues"][1]
    assert c1["mood"] == "tense"
    assert (c2["key"], c2["tempo_bpm"], c2["orchestration"], c2["tempo_locked"]) == ("E minor", 90.0, "solo cello", True)
    assert run_cli("plan", an).returncode == 0  # a plain re-plan keeps them
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    assert tl["cues"][0]["mood"] == "tense" and tl["cues"][1]["tempo_bpm"] == 90.0
    assert tl["cues"][1]["auto"]["tempo_bpm"] != 90.0  # the planner's own choice, to go back to
    assert run_cli("compose", out / f"{stem}.timeline.json").returncode == 0
    pm = pretty_midi.PrettyMIDI(str(out / f"{stem}.score.mid"))
    in_c2 = [i for i in pm.instruments for n in i.notes if c2["start_sec"] <= n.start < c2["end_sec"] - 0.02]
    assert in_c2 and {i.program for i in in_c2} == {42}  # solo cello: nothing else plays in cue 2
    bad = run_cli("plan", an, "--mood", "cue 9=tense")
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_style_sets_tempo_range_and_colour(planned):
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    assert run_cli("plan", an, "--fresh", "--style", "action").returncode == 0
    action = json.loads((out / f"{stem}.timeline.json").read_text())
    assert all(100 <= c["tempo_bpm"] <= 160 for c in action["cues"])
    assert run_cli("plan", an, "--fresh", "--style", "drama").returncode == 0
    drama = json.loads((out / f"{stem}.timeline.json").read_text())
    assert all(56 <= c["tempo_bpm"] <= 100 for c in drama["cues"])
    assert sum(c["intensity"] for c in action["cues"]) > sum(c["intensity"] for c in drama["cues"])
    r = run_cli("plan", an, "--style", "polka")
    assert r.returncode == 2 and "--style" in r.stderr


def test_variants_and_pick(planned):
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    assert run_cli("plan", an, "--fresh").returncode == 0
    tl_path = out / f"{stem}.timeline.json"
    r = run_cli("compose", tl_path, "--variants", "3", "--json")
    assert r.returncode == 0, r.stderr
    tl = json.loads(tl_path.read_text())
    cue = tl["cues"][1]
    folder = out / f"{stem}.variants"
    mids = [pretty_midi.PrettyMIDI(str(folder / f"{cue['id']}.v{k}.mid")) for k in (1, 2, 3)]
    melodies = [[(round(n.start, 3), n.pitch) for i in m.instruments if i.name.rsplit(" (", 1)[0] == "Melody" for n in i.notes] for m in mids]
    assert len({tuple(m) for m in melodies}) == 3  # three different cues
    assert all(len(m) >= 4 for m in melodies)  # each a real melody
    # same tempo map: the cue's own (ramps included), shifted to the audition's start
    want_times = [0.0] + [e["time_sec"] - cue["start_sec"] for e in tl["tempo_map"]
                          if cue["start_sec"] + 1e-9 < e["time_sec"] < cue["end_sec"] - 1e-9]
    for m in mids:
        times, bpms = m.get_tempo_changes()
        assert np.allclose(times, want_times, atol=2e-3)
        assert np.allclose(bpms, mids[0].get_tempo_changes()[1], atol=1e-6)
        assert abs(bpms[0] - next(e["bpm"] for e in tl["tempo_map"] if abs(e["time_sec"] - cue["start_sec"]) < 1e-6)) < 1e-3
    for k in (1, 2, 3):
        assert (folder / f"{cue['id']}.v{k}.wav").stat().st_size > 1000
    assert run_cli("pick", tl_path, "2", "2").returncode == 0
    assert run_cli("plan", an).returncode == 0  # the pick survives a re-plan
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(out / f"{stem}.score.mid"))
    picked = [(round(n.start - cue["start_sec"], 3), n.pitch) for i in pm.instruments if i.name.rsplit(" (", 1)[0] == "Melody"
              for n in i.notes if cue["start_sec"] - 0.02 <= n.start < cue["end_sec"]]
    want = melodies[1]  # what was auditioned is what is kept (times to MIDI tick rounding)
    assert [p for _, p in picked] == [p for _, p in want]
    assert all(abs(a - b) <= 0.005 for (a, _), (b, _) in zip(picked, want))
    r = run_cli("pick", tl_path, "2", "9")
    assert r.returncode == 2 and "variants 1..3" in r.stderr
    # the project's folder (the -o of `score`) finds its timeline, as -o or in the timeline's place
    seeds = json.loads((folder / "manifest.json").read_text())["seeds"][cue["id"]]
    assert run_cli("pick", "2", "3", "-o", out).returncode == 0
    assert json.loads(tl_path.read_text())["cues"][1]["seed"] == seeds[2]
    assert run_cli("pick", out, "2", "1").returncode == 0
    assert json.loads(tl_path.read_text())["cues"][1]["seed"] == seeds[0]
    r = run_cli("pick", "2", "1", "-o", out / "nowhere")
    assert r.returncode == 2 and "no such folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["tacet"] = True
    tl_path.write_text(json.dumps(tl))
    r = run_cli("pick", "1", "1", "-o", out)  # a tacet cue has no music to choose
    assert r.returncode == 2 and "is tacet" in r.stderr and '"tacet": false' in r.stderr


def _own_plan(planned, tmp_path) -> tuple:
    """A copy of the module's analysed project with a fresh plan (no variants, no earlier edits):
    ``(folder, stem, analysis path, timeline path)``."""
    import shutil

    src, stem = planned
    out = tmp_path / "p"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(f"{stem}.variants", f"{stem}.timeline.json"))
    an = out / f"{stem}.analysis.json"
    assert run_cli("plan", an).returncode == 0
    return out, stem, an, out / f"{stem}.timeline.json"


def test_variants_rerun_renders_only_the_auditions_that_changed(planned, tmp_path):
    """`score --variants 3` again after one cue's mood changed: auditions whose MIDI is the same are
    left as they are (not rewritten), the edited cue's are rendered anew, a deleted WAV comes back."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    assert run_cli("compose", tl_path, "--variants", "3").returncode == 0
    folder = out / f"{stem}.variants"

    def state() -> dict[str, tuple[int, bytes]]:
        return {p.stem: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.glob("*.wav"))}

    first = state()
    tl = json.loads(tl_path.read_text())
    assert len(tl["cues"]) >= 2 and len(first) == 3 * len(tl["cues"])
    edited = tl["cues"][-1]
    edited["mood"] = next(m for m in ("tense", "serene", "excited", "sombre") if m != edited["mood"])
    tl_path.write_text(json.dumps(tl))
    r = run_cli("compose", tl_path, "--variants", "3", "--json")
    assert r.returncode == 0, r.stderr
    second = state()
    assert second.keys() == first.keys()
    for name, (mtime, data) in second.items():
        if name.startswith(edited["id"] + ".v"):
            assert data != first[name][1], name  # a new mood: new notes, rendered
        elif data == first[name][1]:
            assert mtime == first[name][0], name  # unchanged: not even rewritten
    kept = [n for n in second if second[n][0] == first[n][0]]
    assert kept, "every audition was rendered again"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["auditions"]) == set(first) and set(manifest["seeds"]) == {c["id"] for c in tl["cues"]}
    (folder / f"{kept[0]}.wav").unlink()
    assert run_cli("compose", tl_path, "--variants", "3").returncode == 0
    assert (folder / f"{kept[0]}.wav").read_bytes() == first[kept[0]][1]  # rendered again, the same


def test_mood_or_prompt_on_a_locked_cue_is_refused(planned, tmp_path):
    """A locked cue keeps its music: --mood/--prompt on it (which once re-wrote it) is one line, exit 2,
    the timeline untouched; on another cue they apply."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["locked"] = True
    tl_path.write_text(json.dumps(tl))
    before = tl_path.read_bytes()
    first = tl["cues"][0]["id"]
    for option in (["--mood", f"{first}=tense"], ["--prompt", f"{first}: C minor"]):
        r = run_cli("plan", an, *option)
        assert r.returncode == 2 and f"cue {first} is locked" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert tl_path.read_bytes() == before
    other = tl["cues"][1]["id"]
    mood = next(m for m in ("tense", "serene") if m != tl["cues"][1]["mood"])
    assert run_cli("plan", an, "--mood", f"{other}={mood}").returncode == 0
    assert json.loads(tl_path.read_text())["cues"][1]["mood"] == mood


def test_project_config_sets_defaults_and_rejects_unknown_keys(planned, tmp_path):
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    (tmp_path / "tempscore.toml").write_text('[plan]\ntempo_range = "80-90"\n[defaults]\nseed = 5\n')
    r = run_cli("plan", an, "--fresh", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert all(80 <= c["tempo_bpm"] <= 90 for c in json.loads(r.stdout)["cues"])
    r = run_cli("plan", an, "--fresh", "--tempo-range", "100-110", "--json", cwd=tmp_path)  # the command line wins
    assert all(100 <= c["tempo_bpm"] <= 110 for c in json.loads(r.stdout)["cues"])
    (tmp_path / "tempscore.toml").write_text("[plan]\nbogus = 1\n")
    r = run_cli("plan", an, cwd=tmp_path)
    assert r.returncode == 2 and "bogus" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_config_values_are_checked_like_the_command_line_and_name_the_file(planned, tmp_path):
    """One string for a repeatable option is one entry (mood = "cue 1=tense"); a value of the wrong
    kind is one line naming the file and the key (not a complaint about a --flag never typed);
    --help works whatever the file says."""
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    cfg = tmp_path / "tempscore.toml"
    cfg.write_text('[plan]\nmood = "cue 1=tense"\nprompt = ["cue 2: 3/4"]\n')
    r = run_cli("plan", an, "--fresh", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tl = json.loads((out / f"{stem}.timeline.json").read_text())
    assert tl["cues"][0]["mood"] == "tense" and tl["cues"][1]["beats_per_bar"] == 3
    for text, says in (("[compose]\nseed = [1, 2]", "seed: takes one value, not a list"),
                       ("[compose]\nseed = 2.5", "seed = 2.5: give a whole number"),
                       ('[compose]\nseed = "abc"', "seed = 'abc'"), ('[score]\nstems = "yes"', "use true or false"),
                       ("[plan]\nmood = 3", "give a list of texts"), ("[plan]\nmood = {a = 1}", "give a list of texts")):
        cfg.write_text(text + "\n")
        r = run_cli("plan", an, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr and str(cfg) in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Invalid value for" not in r.stderr
    h = run_cli("plan", "--help", cwd=tmp_path)
    assert h.returncode == 0 and "--tempo-range" in h.stdout


def test_a_bad_value_from_the_config_says_which_file_and_key_set_it(planned, tmp_path):
    """A value the command checks later (a range, a timecode, a cue that does not exist) fails with
    the command's own message, which names the option as if it had been typed: the line adds the
    file and key that set it, unless the command line gave that option; a key above every table
    says where it belongs."""
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    cfg = tmp_path / "tempscore.toml"
    for text, says, key in (('[plan]\ntempo_range = "200-100"', "tempo range", "[plan] tempo_range"),
                            ('[defaults]\npicture_end = "soon"', "'soon'", "[defaults] picture_end"),
                            ('[plan]\nmood = "cue 9=tense"', "'cue 9' does not exist", "[plan] mood")):
        cfg.write_text(text + "\n")
        r = run_cli("plan", an, cwd=tmp_path)
        assert r.returncode == 2 and says in r.stderr and f"(set in {cfg} {key})" in r.stderr, (text, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    cfg.write_text('[plan]\ntempo_range = "60-140"\n')
    r = run_cli("plan", an, "--tempo-range", "200-100", cwd=tmp_path)  # typed: the command line's own error
    assert r.returncode == 2 and "tempo range" in r.stderr and "set in" not in r.stderr
    cfg.write_text('tempo_range = "60-140"\n')
    r = run_cli("plan", an, cwd=tmp_path)
    assert r.returncode == 2 and "outside a table" in r.stderr and "[defaults]" in r.stderr


def test_a_home_relative_path_in_the_config_is_expanded(planned, tmp_path):
    """TOML has no shell: `output_dir = "~/plans"` means the home folder's plans, not a folder named ~."""
    import os
    import subprocess
    import sys

    out, stem = planned
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "tempscore.toml").write_text('[plan]\noutput_dir = "~/plans"\n')
    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "plan", str(out / f"{stem}.analysis.json"), "--json"],
                       cwd=work, capture_output=True, text=True, env={**os.environ, "HOME": str(home),
                                                                        "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (home / "plans" / f"{stem}.timeline.json").is_file() and not (work / "~").exists()


def test_every_mood_edit_changes_what_the_music_is_asked_for():
    """A mood set by hand must be heard: the melody's conditioning (density band, register) or
    the mode changes for every mood other than the picture's own."""
    from tempscore.contracts import Cue
    from tempscore.models.composer import condition_for, music_affect
    from tempscore.scoring.plan import _key_for_mood

    base = Cue(id="1M1", start_sec=0.0, end_sec=10.0, start_frame=0, end_frame=250, mood="serene", valence=0.2,
               arousal=-0.1, intensity=0.4, key="F major", tempo_bpm=100.0, beats_per_bar=4, beats=16)
    asked = {}
    for mood in ("excited", "tense", "serene", "sombre"):
        c = music_affect(type(base)(**{**vars(base), "mood": mood}))
        asked[mood] = (condition_for(c), _key_for_mood(None if mood == "serene" else mood, "F major"))
    assert music_affect(base) is base  # the picture's own mood: nothing moves
    assert len(set(asked.values())) == 4, asked
    assert asked["tense"][1] == asked["sombre"][1] == "D minor" and asked["excited"][1] == "F major"


def _cue_notes(midi_path, cue: dict, *, audition: bool = False) -> list[tuple]:
    """Every note that starts inside ``cue`` (all parts), times from the cue start; ``audition``: the
    file is the cue's audition (it starts at 0)."""
    pm = pretty_midi.PrettyMIDI(str(midi_path))
    t0 = 0.0 if audition else cue["start_sec"]
    length = cue["end_sec"] - cue["start_sec"]
    return sorted((i.name, round(n.start - t0, 3), round(min(n.end - t0, length), 3), n.pitch, n.velocity)
                  for i in pm.instruments for n in i.notes if -1e-3 <= n.start - t0 < length - 1e-3)


def _other_mood(cue: dict) -> str:
    return next(m for m in ("tense", "serene", "excited", "sombre") if m != cue["mood"])


def test_a_locked_cue_keeps_its_notes_when_it_is_locked_and_when_other_cues_change(planned, tmp_path):
    """Locking a cue keeps exactly what was heard (its tempo ramps and hits too, which a re-fit at
    the locked tempo once dropped), and changing the mood of the cue before it, whose melody is the
    film's motif that later cues open with, leaves the locked cue's notes as they were."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    assert run_cli("compose", tl_path).returncode == 0
    mid = out / f"{stem}.score.mid"
    tl = json.loads(tl_path.read_text())
    assert len(tl["cues"]) >= 2
    last = tl["cues"][-1]
    heard = _cue_notes(mid, last)
    grid = ([e for e in tl["tempo_map"] if e["time_sec"] >= last["start_sec"] - 1e-6],
            [h for h in tl["hit_points"] if h["cue_id"] == last["id"]])
    assert len(heard) > 10
    last["locked"] = True
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0 and run_cli("compose", tl_path).returncode == 0
    locked = json.loads(tl_path.read_text())
    cue = locked["cues"][-1]
    assert cue["locked"] and cue["take"]["bars"] and cue["seed"] == 0
    assert ([e for e in locked["tempo_map"] if e["time_sec"] >= cue["start_sec"] - 1e-6],
            [h for h in locked["hit_points"] if h["cue_id"] == cue["id"]]) == grid
    assert _cue_notes(mid, cue) == heard
    first = locked["cues"][0]
    first["mood"] = _other_mood(first)
    tl_path.write_text(json.dumps(locked))
    assert run_cli("plan", an).returncode == 0
    r = run_cli("compose", tl_path, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)["cue_report"]
    assert report[cue["id"]]["take"].startswith("kept") and "take" not in report[first["id"]]
    # the first cue's new mood moves its tempo, and so the MIDI ticks before the locked cue: its
    # notes are the same within a tick's rounding (1 ms)
    now = _cue_notes(mid, cue)
    assert _same_notes(now, heard, tol_sec=0.0015)


def _same_notes(a: list[tuple], b: list[tuple], *, tol_sec: float) -> bool:
    """The same notes (part, pitch, velocity) at the same times within ``tol_sec``."""
    return len(a) == len(b) and all(
        (x[0], x[3], x[4]) == (y[0], y[3], y[4]) and abs(x[1] - y[1]) <= tol_sec and abs(x[2] - y[2]) <= tol_sec
        for x, y in zip(sorted(a, key=lambda n: (n[0], n[3], n[4], n[1])), sorted(b, key=lambda n: (n[0], n[3], n[4], n[1]))))


def test_a_pick_survives_an_edit_of_another_cue_and_yields_to_an_edit_of_its_own(planned, tmp_path):
    """The picked variant is what plays even after the first cue (the motif) is changed; when the
    user then changes the picked cue's own mood, its melody is written again for that mood."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    assert run_cli("compose", tl_path, "--variants", "3").returncode == 0
    tl = json.loads(tl_path.read_text())
    cue = tl["cues"][-1]
    audition = _cue_notes(out / f"{stem}.variants" / f"{cue['id']}.v3.mid", cue, audition=True)
    assert run_cli("pick", tl_path, cue["id"], "3").returncode == 0
    tl = json.loads(tl_path.read_text())
    assert tl["cues"][-1]["take"]["seed"] == tl["cues"][-1]["seed"]
    tl["cues"][0]["mood"] = _other_mood(tl["cues"][0])
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0 and run_cli("compose", tl_path).returncode == 0
    mid = out / f"{stem}.score.mid"
    placed = _cue_notes(mid, cue)
    assert [(n, p, v) for n, _, _, p, v in placed] == [(n, p, v) for n, _, _, p, v in audition]
    assert np.allclose([x[1:3] for x in placed], [x[1:3] for x in audition], atol=0.005)  # MIDI tick rounding
    tl = json.loads(tl_path.read_text())
    own = tl["cues"][-1]
    own["mood"] = _other_mood(own)
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0
    r = run_cli("compose", tl_path, "--json")
    assert r.returncode == 0, r.stderr
    assert "take" not in json.loads(r.stdout)["cue_report"][own["id"]]
    assert json.loads(tl_path.read_text())["cues"][-1]["take"]["for"]["mood"] == own["mood"]  # the new take kept


@pytest.mark.parametrize("take, says", [
    ({"seed": -1, "frame": 0, "for": {}, "bars": []}, "seed must be"),
    ({"seed": 0, "frame": 0, "for": {}, "bars": [{"chord": 9, "notes": []}]}, r"bars\[0\] must be"),
    ({"seed": 0, "frame": 0, "for": {}, "bars": [{"chord": 0, "notes": [[0, 200, 4]]}]}, "is not \\[position"),
    ({"seed": 0, "frame": 0, "for": [], "bars": []}, '"for" must be'),
])
def test_a_hand_broken_take_names_the_field(planned, tmp_path, take, says):
    _, _, _, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["take"] = take
    tl_path.write_text(json.dumps(tl))
    r = run_cli("compose", tl_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "cues[0].take" in r.stderr and 'delete "take"' in r.stderr
    import re

    assert re.search(says, r.stderr), r.stderr


def test_cue_edges_moved_by_hand_stay_where_they_were_put(planned, tmp_path):
    """Moving a cue boundary by editing the frames in timeline.json (not on the spotting page, so
    without edges_locked) is an edit like any other: the re-plan keeps it, and marks the edges."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    assert len(tl["cues"]) >= 2
    edge = tl["cues"][1]["start_frame"] - 6
    tl["cues"][0]["end_frame"] = tl["cues"][1]["start_frame"] = edge
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):  # and again: it stays
        r = run_cli("plan", an, "--json")
        assert r.returncode == 0, r.stderr
        after = json.loads(tl_path.read_text())
        assert after["cues"][0]["end_frame"] == edge == after["cues"][1]["start_frame"]
        assert after["cues"][1]["edges_locked"]
        assert "pinned_cues" in json.loads(r.stdout)["edits_kept"]


def test_cue_edges_moved_by_their_seconds_stay_where_they_were_put(planned, tmp_path):
    """An edge edited as seconds (start_sec/end_sec: the time a person reads), frames left as they
    were: the re-plan puts the edge on the frame at those seconds and keeps it there."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    fps = tl["video"]["fps_num"] / tl["video"]["fps_den"]
    edge = tl["cues"][1]["start_frame"] - 6
    tl["cues"][0]["end_sec"] = tl["cues"][1]["start_sec"] = round(edge / fps, 3)
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):
        r = run_cli("plan", an, "--json")
        assert r.returncode == 0, r.stderr
        after = json.loads(tl_path.read_text())
        assert after["cues"][0]["end_frame"] == edge == after["cues"][1]["start_frame"]
        assert abs(after["cues"][1]["start_sec"] - edge / fps) < 1e-6 and after["cues"][1]["edges_locked"]
        assert json.loads(r.stdout)["edits_not_kept"] == []


def _bars(tl: dict, cue: dict) -> set[int]:
    return {e["beats_per_bar"] for e in tl["tempo_map"] if cue["start_sec"] - 1e-6 <= e["time_sec"] < cue["end_sec"] - 1e-6
            and e["bar_line"]}


def test_a_cue_in_three_from_the_timeline_and_from_a_prompt(planned, tmp_path):
    """A cue's metre is an edit like its key: beats_per_bar 3 in timeline.json (or `--prompt "cue 2:
    3/4"`) gives that cue bars of 3 in the tempo map and the MIDI (the other cues stay in 4), and
    it stays on a re-plan; 6/8 is named back (beats are quarter notes)."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][1]["beats_per_bar"] = 3
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):
        r = run_cli("plan", an, "--json")
        assert r.returncode == 0, r.stderr
        after = json.loads(tl_path.read_text())
        c1, c2 = after["cues"][0], after["cues"][1]
        assert (c1["beats_per_bar"], c2["beats_per_bar"]) == (4, 3)
        assert 3 in _bars(after, c2) and _bars(after, c2) <= {1, 2, 3} and 4 in _bars(after, c1)
        assert after["edits"]["cue_overrides"][c2["id"]]["beats_per_bar"] == 3
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(out / f"{stem}.score.mid"))
    at_c2 = [ts for ts in pm.time_signature_changes if abs(ts.time - c2["start_sec"]) < 1e-3]
    assert [(ts.numerator, ts.denominator) for ts in at_c2] == [(3, 4)]
    # from the command line, with a metre it does not take
    r = run_cli("plan", an, "--fresh", "--prompt", "cue 1: 5/4, 6/8", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prompt_not_understood"] == ["6/8"]
    after = json.loads(tl_path.read_text())
    assert after["cues"][0]["beats_per_bar"] == 5 and after["cues"][1]["beats_per_bar"] == 4
    bad = run_cli("plan", an, "--prompt", "cue 1: 13/4")
    assert bad.returncode == 2 and "2..12" in bad.stderr
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["beats_per_bar"] = 1
    tl_path.write_text(json.dumps(tl))
    bad = run_cli("plan", an)
    assert bad.returncode == 2 and "cues[0].beats_per_bar" in bad.stderr


def test_a_locked_cue_keeps_its_metre_when_the_default_changes(planned, tmp_path):
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["locked"] = True
    tl_path.write_text(json.dumps(tl))
    r = run_cli("plan", an, "--beats-per-bar", "3")
    assert r.returncode == 0, r.stderr
    after = json.loads(tl_path.read_text())
    assert after["cues"][0]["beats_per_bar"] == 4 and 4 in _bars(after, after["cues"][0])
    assert after["cues"][1]["beats_per_bar"] == 3 and 3 in _bars(after, after["cues"][1])


def test_hand_edits_of_planned_fields_are_named_back(planned, tmp_path):
    """valence, arousal, beats and start_bar are worked out by every plan: an edit of one is not
    silently dropped but named, with what to edit instead; an untouched re-plan names nothing."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    r = run_cli("plan", an, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["edits_not_kept"] == []
    tl = json.loads(tl_path.read_text())
    cue = tl["cues"][1]
    cue["valence"] = -cue["valence"] or 0.5
    cue["beats"] += 4
    tl_path.write_text(json.dumps(tl))
    r = run_cli("plan", an, "--json")
    assert r.returncode == 0, r.stderr
    lines = json.loads(r.stdout)["edits_not_kept"]
    assert len(lines) == 1 and lines[0].startswith(f"cue {cue['id']}:")
    assert "valence (the picture's reading; steer with mood or intensity)" in lines[0] and "beats (" in lines[0]
    assert "planned again" in " ".join(r.stderr.split())
    assert json.loads(run_cli("plan", an, "--json").stdout)["edits_not_kept"] == []  # said once


def test_a_set_tempo_is_let_go_by_tempo_locked_false(planned, tmp_path):
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    planned_bpm = tl["cues"][1]["tempo_bpm"]
    tl["cues"][1]["tempo_bpm"] = 90.0  # typed in by hand (tempo_locked left as it was)
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0
    tl = json.loads(tl_path.read_text())
    assert (tl["cues"][1]["tempo_bpm"], tl["cues"][1]["tempo_locked"]) == (90.0, True)
    assert tl["cues"][1]["auto"]["tempo_bpm"] == planned_bpm
    tl["cues"][1]["tempo_locked"] = False
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0
    tl = json.loads(tl_path.read_text())
    assert (tl["cues"][1]["tempo_bpm"], tl["cues"][1]["tempo_locked"]) == (planned_bpm, False)


@pytest.mark.parametrize("edit", ["first_cue_starts_a_frame_late", "cue_squeezed_to_a_frame"])
def test_an_edge_that_leaves_a_sliver_joins_it_to_a_neighbour(planned, tmp_path, edit):
    """A frame left over by an edge moved by hand (or a cue squeezed to one frame) cannot hold a
    beat: it joins the cue next to it, with a warning, instead of becoming a cue at 1500 BPM that
    the next run would refuse to read."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    if edit == "first_cue_starts_a_frame_late":
        tl["cues"][0]["start_frame"] = 1
    else:
        tl["cues"][0]["end_frame"] = tl["cues"][1]["start_frame"] = 1
    tl_path.write_text(json.dumps(tl))
    r = run_cli("plan", an, "--json")
    assert r.returncode == 0, r.stderr
    assert "too short for a beat" in " ".join(r.stderr.split())
    after = json.loads(tl_path.read_text())
    assert after["cues"][0]["start_frame"] == 0 and all(
        c["end_sec"] - c["start_sec"] >= 60 / 140 - 1e-6 and 20 <= c["tempo_bpm"] <= 300 for c in after["cues"])
    assert run_cli("plan", an).returncode == 0  # and what it wrote reads back


def test_a_recall_chosen_in_the_timeline_opens_the_cue_with_that_theme(planned, tmp_path):
    """recalls is the composer's to set: a cue told to recall cue 1 opens with cue 1's opening bars
    (its melody starts with the same notes, transposed to its key), across re-plans; "" clears it."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    first, target = tl["cues"][0], tl["cues"][-1]
    assert not first["tacet"] and not target["tacet"] and target["recalls"] == ""
    target["recalls"] = first["id"]
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):
        assert run_cli("plan", an).returncode == 0
        c = json.loads(tl_path.read_text())["cues"][-1]
        assert c["recalls"] == first["id"] and c["why"]["recall"] == {"cue": first["id"], "rule": "chosen by the user"}
    r = run_cli("compose", tl_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cue_report"][target["id"]]["motif"] == f"recalls {first['id']}"
    tl = json.loads(tl_path.read_text())
    tl["cues"][-1]["recalls"] = ""
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0
    r = run_cli("compose", tl_path, "--json")
    assert json.loads(tl_path.read_text())["cues"][-1]["recalls"] == ""
    assert not json.loads(r.stdout)["cue_report"][target["id"]]["motif"].startswith("recalls")


def test_orchestration_written_in_the_timeline_reads_like_a_brief():
    from tempscore.scoring.edits import instrument_of, orchestration_problem

    for ok in ("", "solo cello", "Cellos", "french horn & strings", "celli, double bass"):
        assert orchestration_problem(ok) is None, ok
    assert [instrument_of(w) for w in ("violins", "celli", "basses", "strings", "horns", "kazoo")] == [
        "violin", "cello", "bass", "strings", "horns", None]
    assert "'kazoo' is not an instrument" in orchestration_problem("solo kazoo")
    assert "names no instrument" in orchestration_problem("solo")


def test_pick_refuses_a_variant_the_cue_no_longer_fits_and_a_locked_cue(planned, tmp_path):
    """A variant auditioned before the cue's mood (and so key) changed would not be what plays: pick
    says so instead of writing a different melody from its seed; a locked cue keeps its notes."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    r = run_cli("compose", tl_path, "--variants", "2", "--json")
    assert r.returncode == 0, r.stderr
    tl = json.loads(tl_path.read_text())
    cue = tl["cues"][1]
    cue["mood"] = _other_mood(cue)
    tl["cues"][0]["locked"] = True
    tl_path.write_text(json.dumps(tl))
    before = tl_path.read_bytes()
    r = run_cli("pick", tl_path, "2", "1")
    msg = " ".join(r.stderr.split())
    assert r.returncode == 2 and f"variant 1 of cue {cue['id']} was made for its" in msg and "audition new variants" in msg
    r = run_cli("pick", tl_path, "1", "2")
    assert r.returncode == 2 and "is locked" in r.stderr
    assert tl_path.read_bytes() == before  # nothing written


def test_seconds_edited_on_a_locked_cue_leave_its_grid_as_it_was(planned, tmp_path):
    """A locked cue is kept as it is: its seconds edited by hand move nothing (its beat grid is its
    frames'), and it is not told its picture changed length."""
    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][1]["locked"] = True
    tl_path.write_text(json.dumps(tl))
    assert run_cli("plan", an).returncode == 0
    locked = json.loads(tl_path.read_text())
    cue = locked["cues"][1]
    events = [e for e in locked["tempo_map"] if cue["start_sec"] - 1e-6 <= e["time_sec"] < cue["end_sec"] - 1e-6]
    cue["end_sec"] -= 0.5
    tl_path.write_text(json.dumps(locked))
    r = run_cli("plan", an)
    assert r.returncode == 0 and "changed length" not in r.stderr, r.stderr
    after = json.loads(tl_path.read_text())
    c = after["cues"][1]
    assert (c["start_frame"], c["end_frame"], c["end_sec"]) == (cue["start_frame"], cue["end_frame"], cue["end_sec"] + 0.5)
    assert [e for e in after["tempo_map"] if c["start_sec"] - 1e-6 <= e["time_sec"] < c["end_sec"] - 1e-6] == events


@pytest.mark.parametrize("field", ["timecode", "time_sec"])
def test_a_hit_moved_by_its_timecode_or_its_seconds_follows_the_edit(planned, tmp_path, field):
    """A picture editor retypes a hit's timecode (or its seconds): the hit moves there, as if it
    had been deleted and added by hand, and stays on re-plans."""
    from fractions import Fraction

    from tempscore.scoring.timecodes import frame_to_smpte

    _, _, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    hit = next(h for h in tl["hit_points"] if h["how"] != "cue_start")
    fps = Fraction(tl["video"]["fps_num"], tl["video"]["fps_den"])
    target = hit["frame"] + 7
    if field == "timecode":
        hit["timecode"] = frame_to_smpte(target, fps, start_timecode=tl["video"]["start_timecode"])
    else:
        hit["time_sec"] = round(float(target / fps), 3)
    tl_path.write_text(json.dumps(tl))
    for _ in range(2):
        assert run_cli("plan", an).returncode == 0
        after = json.loads(tl_path.read_text())
        frames = {h["frame"]: h for h in after["hit_points"]}
        assert target in frames and frames[target]["how"] == "user" and hit["frame"] not in frames
        assert hit["frame"] in after["edits"]["deleted_hit_frames"]


def test_compose_alone_says_when_an_edit_needs_the_plan_first(planned, tmp_path):
    """compose writes notes on the planned beat grid: a tempo, metre or edge typed into the timeline
    since the plan would be ignored by it, so it says so (exit 2, the fields, the command to run) and
    writes nothing; a mood or key edit composes as it is; after `plan` the edit is heard."""
    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    tl["cues"][0]["mood"] = _other_mood(tl["cues"][0])
    tl_path.write_text(json.dumps(tl))
    assert run_cli("compose", tl_path).returncode == 0  # needs no plan
    midi = out / f"{stem}.score.mid"
    before = midi.read_bytes()
    tl = json.loads(tl_path.read_text())
    cue = tl["cues"][1]
    cue["tempo_bpm"], cue["beats_per_bar"] = 100.0, 3
    tl["cues"][0]["end_sec"] = cue["start_sec"] = round(cue["start_sec"] - 0.4, 3)
    tl_path.write_text(json.dumps(tl))
    r = run_cli("compose", tl_path)
    msg = " ".join(r.stderr.split())
    assert r.returncode == 2 and f"cue {tl['cues'][0]['id']}: edges; cue {cue['id']}: tempo_bpm, beats_per_bar, edges" in msg
    assert f"tempscore plan {stem}.analysis.json" in msg and len(r.stderr.strip().splitlines()) == 1
    assert midi.read_bytes() == before
    assert run_cli("plan", an).returncode == 0
    assert run_cli("compose", tl_path).returncode == 0
    pm = pretty_midi.PrettyMIDI(str(midi))
    after = json.loads(tl_path.read_text())["cues"][1]
    assert any(abs(ts.time - after["start_sec"]) < 1e-3 and ts.numerator == 3 for ts in pm.time_signature_changes)
    times, bpms = pm.get_tempo_changes()
    assert any(abs(t - after["start_sec"]) < 1e-3 and abs(b - 100.0) < 0.01 for t, b in zip(times, bpms))


def test_two_options_that_disagree_on_a_cue_are_named_and_the_later_is_used(planned):
    out, stem = planned
    an = out / f"{stem}.analysis.json"
    r = run_cli("plan", an, "--fresh", "--mood", "cue 1=tense", "--prompt", "cue 1: calm, 3/4", "--prompt", "cue 1: 5/4")
    assert r.returncode == 0, r.stderr
    msg = " ".join(r.stderr.split())
    assert "cue 1M1: --prompt 'cue 1: calm, 3/4' sets mood 'serene', --mood 'cue 1=tense' set 'tense'; 'serene' is used" in msg
    assert "sets beats per bar 5" in msg
    c = json.loads((out / f"{stem}.timeline.json").read_text())["cues"][0]
    assert (c["mood"], c["beats_per_bar"]) == ("serene", 5) and c["key"].endswith("major")  # serene: the home major


def test_a_cue_title_is_kept_and_shown_and_a_name_typed_over_the_number_becomes_the_title(planned, tmp_path):
    """Music editors name cues ("2M1 The Chase"): a title typed into the timeline is kept across
    re-plans and shown in sync.csv, the OTIO markers and the MIDI markers; a name typed over the
    cue's number (which the plan gives, from the picture start) becomes its title, and it says so."""
    import csv

    import opentimelineio as otio

    out, stem, an, tl_path = _own_plan(planned, tmp_path)
    tl = json.loads(tl_path.read_text())
    first_id, second_id = tl["cues"][0]["id"], tl["cues"][1]["id"]
    tl["cues"][0]["title"] = "Opening"
    tl["cues"][1]["id"] = "The Chase"
    tl_path.write_text(json.dumps(tl))
    r = run_cli("plan", an, "--otio", "--json")
    assert r.returncode == 0, r.stderr
    assert "the name is kept as its title" in json.loads(r.stdout)["edits_not_kept"][0]
    for _ in range(2):
        after = json.loads(tl_path.read_text())
        assert [(c["id"], c["title"]) for c in after["cues"][:2]] == [(first_id, "Opening"), (second_id, "The Chase")]
        assert run_cli("plan", an, "--otio").returncode == 0
    rows = list(csv.DictReader((out / f"{stem}.sync.csv").open()))
    assert {(r["id"], r["title"]) for r in rows if r["event"] == "cue_start"} >= {(first_id, "Opening"),
                                                                                  (second_id, "The Chase")}
    spotting = otio.adapters.read_from_file(str(out / f"{stem}.otio"))  # kept: its tracks live as long as it
    names = [m.name for tr in spotting.tracks for clip in tr for m in getattr(clip, "markers", [])]
    assert any(n.startswith(f'{second_id} "The Chase" ') for n in names)
    assert run_cli("compose", tl_path).returncode == 0
    markers = [m.text for m in mido.MidiFile(str(out / f"{stem}.score.mid")).tracks[0] if m.type == "marker"]
    assert any(t.startswith(f'{first_id} "Opening" ') for t in markers)
