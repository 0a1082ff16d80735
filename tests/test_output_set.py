"""A run's outputs land as one set: a failed, refused or killed run leaves the previous complete set
(issue 24's item 7), and a run killed while renaming its set into place is finished by the next."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli
from tempscore.project import OutputSet, Project

SET = (".timeline.json", ".sync.csv", ".sync.json", ".score.mid", ".score.wav", ".scored.mp4", ".timeline.png")


def _hashes(project: Project) -> dict[str, str]:
    return {s: hashlib.sha256(project.file(s).read_bytes()).hexdigest() for s in SET if project.file(s).is_file()}


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture()
def scored_once(clip25, tmp_path) -> Project:
    out = tmp_path / "out"
    r = run_cli("score", clip25.path, "-o", out, "--seed", "3")
    assert r.returncode == 0, r.stderr
    project = Project.of(clip25.path, out)
    assert set(_hashes(project)) == set(SET)
    return project


def _limited(max_bytes: int) -> Callable[[], None]:  # a preexec_fn
    def limit() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def test_a_write_that_fails_leaves_the_previous_set_and_says_so_in_one_line(scored_once, clip25):
    """The issue's case 7: with a file-size limit standing in for a full disk, `score --fresh --seed 7`
    (which would change the MIDI, the WAV and the video) exits 2 with one line naming the folder, and
    the timeline, MIDI, WAV and video are all the previous run's, byte for byte; nothing is left."""
    before = _hashes(scored_once)
    r = subprocess.run([sys.executable, "-m", "tempscore.cli", "score", str(clip25.path), "-o", str(scored_once.folder),
                        "--fresh", "--seed", "7"], capture_output=True, text=True, preexec_fn=_limited(600_000),
                       env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tempscore: error:"), r.stderr
    assert "Traceback" not in r.stderr and ("space" in lines[0] or "File too large" in lines[0]), lines[0]
    assert _hashes(scored_once) == before
    assert _hidden(scored_once.folder) == []


def test_a_refused_run_changes_nothing(scored_once, clip25):
    """A run that stops on a user error after the analysis (here: a locked cue's mood changed from the
    command line) leaves every earlier output as it was."""
    tl = json.loads(scored_once.timeline.read_text())
    tl["cues"][0]["locked"] = True
    scored_once.timeline.write_text(json.dumps(tl))
    before = _hashes(scored_once)
    r = run_cli("score", clip25.path, "-o", scored_once.folder, "--mood", f"cue {tl['cues'][0]['id']}=tense")
    assert r.returncode == 2, r.stderr
    assert _hashes(scored_once) == before
    assert _hidden(scored_once.folder) == []


@pytest.mark.parametrize("stage", ["planning", "composing", "rendering"])
def test_a_run_killed_at_any_stage_leaves_the_previous_set(scored_once, clip25, stage):
    """SIGKILL while a run with other settings is in a given stage: the folder still holds the
    previous complete set (only a hidden staging folder is added), and the next run removes what the
    killed one left and writes its own complete set."""
    before = _hashes(scored_once)
    log = scored_once.folder.parent / "stage.log"
    code = (
        "import sys, tempscore.api._score as s\n"
        "from tempscore.cli import main\n"
        "real = s._stage_timer\n"
        "def timer(progress, timings):\n"
        "    timed = real(progress, timings)\n"
        "    def t(stage, fn):\n"
        "        open(sys.argv[1], 'a').write(stage + '\\n')\n"
        "        return timed(stage, fn)\n"
        "    return t\n"
        "s._stage_timer = timer\n"
        "sys.exit(main(sys.argv[2:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(log), "score", str(clip25.path), "-o",
                             str(scored_once.folder), "--seed", "11", "--stems"],
                            env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    want = {"planning": "plan", "composing": "compose", "rendering": "render"}[stage]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120 and (not log.is_file() or want not in log.read_text().split()):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert want in log.read_text().split()
    assert _hashes(scored_once) == before
    assert not scored_once.stem_wavs()  # the killed run's stems never landed
    r = run_cli("score", clip25.path, "-o", scored_once.folder, "--seed", "11", "--stems")
    assert r.returncode == 0, r.stderr
    after = _hashes(scored_once)
    assert after[".score.mid"] != before[".score.mid"] and scored_once.stem_wavs()
    assert _hidden(scored_once.folder) == []


def test_a_set_cut_short_while_renamed_into_place_is_finished_by_the_next_run(tmp_path):
    """The renames of a set are recorded first: a run killed among them (here: the journal and the
    staging folder as it left them) is completed, in order, when the project is next locked."""
    project = Project(tmp_path, "cut")
    for s in (".timeline.json", ".score.mid"):
        project.file(s).write_text(f"old {s}")
    out = OutputSet(project)
    for s in (".timeline.json", ".score.mid"):
        out.path(project.file(s)).write_text(f"new {s}")
    staging = out.staging
    # what commit does before its first rename, then the first rename: then the process dies
    from tempscore.project import _write_journal

    _write_journal(project.commit_journal, staging, out.staged())
    os.replace(staging / "cut.score.mid", project.midi)
    assert project.midi.read_text() == "new .score.mid" and project.timeline.read_text() == "old .timeline.json"
    with project.lock():
        pass
    assert project.midi.read_text() == "new .score.mid" and project.timeline.read_text() == "new .timeline.json"
    assert not project.commit_journal.exists() and not staging.exists()


def test_a_concurrent_save_stops_the_whole_set(tmp_path):
    """A file the run read (the user's timeline) saved by someone else before the set is renamed into
    place: nothing of the set lands (ConcurrentEdit), the save is kept."""
    from tempscore.errors import ConcurrentEdit

    project = Project(tmp_path, "cut")
    project.timeline.write_text("as read")
    out = OutputSet(project)
    out.expect(project.timeline, b"as read")
    out.path(project.timeline).write_text("the run's")
    out.path(project.midi).write_text("the run's midi")
    project.timeline.write_text("the user's save")
    with pytest.raises(ConcurrentEdit), out:
        out.commit()
    assert project.timeline.read_text() == "the user's save" and not project.midi.exists()
    assert _hidden(tmp_path) == []


def test_a_render_refused_for_room_before_it_starts(scored_once, monkeypatch):
    """With less free space than the render's files need, render stops before synthesising, in one line
    naming the folder and the space; the earlier files stay."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    before = _hashes(scored_once)
    r = run_cli("render", scored_once.midi, "--no-reverb")
    assert r.returncode == 2
    assert "not enough space in" in r.stderr and "GB needed" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert _hashes(scored_once) == before


def test_a_relative_output_folder_gives_the_same_score_as_an_absolute_one(tmp_path):
    """The render finds this run's analysis (its dialogue regions: the music ducks under them) in the
    set being written whether -o is relative or absolute (a first run with `-o demo-out` once missed
    it and did not duck: the folders were compared as written)."""
    from conftest import SAMPLE

    rel = run_cli("score", SAMPLE, "-o", "rel", "--json", cwd=tmp_path)
    absolute = run_cli("score", SAMPLE, "-o", tmp_path / "abs", "--json")
    assert rel.returncode == 0 and absolute.returncode == 0, rel.stderr + absolute.stderr
    ducked = json.loads(rel.stdout)["render"]["ducking"]["regions"]
    assert ducked == json.loads(absolute.stdout)["render"]["ducking"]["regions"] and ducked >= 1
    for suffix in (".score.mid", ".score.wav"):
        assert (tmp_path / "rel" / f"rough_cut{suffix}").read_bytes() == (tmp_path / "abs" / f"rough_cut{suffix}").read_bytes()
