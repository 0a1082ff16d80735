"""``tempscore batch``'s inputs and report without scoring: sources and manifests, a folder per video
(all different, kept across runs), the report's escaping and links, and bad usage (exit 2)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import run_cli, run_cli_process
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.batch.report import totals_of, write_reports
from tempscore.batch.results import FAILED, SCORED, VideoResult
from tempscore.batch.sources import Job, assign_folders, collect_jobs, options_digest, read_manifest
from tempscore.errors import InvalidSettings


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


def test_folders_are_searched_recursively_for_videos_only(tmp_path):
    """Videos at any depth, in name order; hidden entries, caches, scored videos, other files and OUT
    itself (inside the folder) are left out; the label is the path under the folder."""
    lib = tmp_path / "lib"
    for name in ("b.mp4", "a.MOV", "ep1/cut.mkv", "ep1/.hidden.mp4", ".trash/x.mp4", "cut.cache/y.mp4",
                 "cut.scored.mp4", "notes.txt", "out/z.mp4"):
        _touch(lib / name)
    jobs = collect_jobs([lib], out_dir=lib / "out")
    assert [j.label for j in jobs] == ["a.MOV", "b.mp4", "ep1/cut.mkv"]
    assert all(j.video.is_absolute() and j.video.is_file() for j in jobs)
    assert [j.base for j in jobs] == ["a", "b", "ep1/cut"]


def test_a_csv_manifest_gives_each_video_its_options(tmp_path):
    """Paths (the video's and those of options naming files) are relative to the manifest; columns
    take the command line's names in any spelling; cells are typed; ';' separates repeated entries;
    an empty cell leaves the option alone; `no-` flags are negated."""
    _touch(tmp_path / "m" / "ref.wav")
    manifest = tmp_path / "m" / "list.csv"
    manifest.write_text("path,--style,seed,tempo-range,mood,no-dialogue,stems,lufs,reference,name\n"
                        "clips/a.mp4,action,3,70-120,cue 1=tense; cue 2=calm,yes,true,-20.5,ref.wav,first\n"
                        "# a comment\n"
                        "\n"
                        "/abs/b.mov,,,,,,,,,\n")
    a, b = read_manifest(manifest)
    assert a.video == tmp_path / "m" / "clips" / "a.mp4" and a.label == "clips/a.mp4" and a.name == "first"
    assert a.options == {"style": "action", "seed": 3, "tempo_range": "70-120", "mood": ["cue 1=tense", "cue 2=calm"],
                         "dialogue": False, "stems": True, "lufs": -20.5, "reference": str(tmp_path / "m" / "ref.wav")}
    assert b.video == Path("/abs/b.mov") and b.label == "b.mov" and b.options == {} and b.name is None
    assert a.where.endswith("list.csv line 2") and b.where.endswith("line 5")


def test_a_json_lines_manifest(tmp_path):
    manifest = tmp_path / "list.jsonl"
    manifest.write_text('{"path": "a.mp4", "mood": ["cue 1=tense"], "seed": 4, "int8": true}\n'
                        "\n"
                        '{"video": "../x/b.mp4", "prompt": "cue 1: C minor", "variants": 2}\n')
    a, b = read_manifest(manifest)
    assert a.options == {"mood": ["cue 1=tense"], "seed": 4, "int8": True} and a.label == "a.mp4"
    assert b.options == {"prompt": ["cue 1: C minor"], "variants": 2} and b.label == "b.mp4"  # outside: its name
    assert b.video == (tmp_path.parent / "x" / "b.mp4")


@pytest.mark.parametrize("text, words", [
    ("path,colour\na.mp4,red\n", ["line 2", "'colour' is not an option"]),
    ("path,seed\na.mp4,three\n", ["line 2", "seed", "whole number"]),
    ("path,stems\na.mp4,maybe\n", ["line 2", "yes/no"]),
    ("video_file,seed\na.mp4,3\n", ["first row", "'path'"]),
    ("path,force\na.mp4,yes\n", ["'force' is not an option"]),
    ("path,name\na.mp4,../up\n", ["name '../up'"]),
    ("path,name\na.mp4,batch.json\n", ["what the batch report is called"]),
    ("path\n", ["lists no videos"]),
])
def test_a_bad_manifest_is_one_line_naming_the_row(tmp_path, text, words):
    manifest = tmp_path / "list.csv"
    manifest.write_text(text)
    with pytest.raises(InvalidSettings) as err:
        read_manifest(manifest)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_the_same_video_twice_is_one_job_unless_its_options_differ(tmp_path):
    video = _touch(tmp_path / "a.mp4")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.mp4"}\n{"path": "a.mp4", "style": "drama"}\n')
    jobs = collect_jobs([video, tmp_path, manifest], out_dir=tmp_path / "out")
    assert [(j.label, j.options) for j in jobs] == [("a.mp4", {}), ("a.mp4", {"style": "drama"})]
    assert assign_folders(jobs, lambda f: None) == ["a", "a-2"]


_stems = st.text(alphabet="abc", min_size=1, max_size=2)
_labels = st.lists(st.tuples(st.sampled_from(["", "x/", "y/z/"]), _stems, st.sampled_from([".mp4", ".mov"])),
                   min_size=1, max_size=12)


def _jobs(parts: list[tuple[str, str, str]]) -> list[Job]:
    return [Job(video=Path(f"/lib/{d}{s}{e}"), label=f"{d}{s}{e}") for d, s, e in dict.fromkeys(parts)]


@settings(max_examples=200, deadline=None)
@given(old=_labels, new=_labels)
def test_folders_are_all_different_and_kept_across_runs(old, new):
    """Every job gets its own folder: its base, or base-N when others want the same; a job that had
    a folder in an earlier run keeps it when videos are added (its record says it was there)."""
    first = _jobs(old)
    folders = assign_folders(first, lambda f: None)
    assert len(set(folders)) == len(folders)
    for job, folder in zip(first, folders):
        assert folder == job.base or (folder.startswith(f"{job.base}-") and folder[len(job.base) + 1:].isdigit())
    records = {f: (j.label, options_digest(j.options)) for j, f in zip(first, folders)}
    both = _jobs(old + new)
    again = dict(zip((j.label for j in both), assign_folders(both, records.get)))
    assert len(set(again.values())) == len(again)
    assert all(again[j.label] == f for j, f in zip(first, folders))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.links: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(k for k, _ in attrs)
        self.links += [v for k, v in attrs if k in ("href", "src")]

    def handle_data(self, data):
        self.text += data


def test_the_page_escapes_every_name_and_links_relatively(tmp_path):
    """A video named with HTML and URL characters: shown as written, no markup of its own, and its
    links (percent-encoded, relative) lead to its files."""
    name = 'a&b <script>x "q" #1?y=2% <img onerror=z>'
    folder = tmp_path / name
    folder.mkdir()
    outputs = {"video": f"{name}.scored.mp4", "midi": f"{name}.score.mid", "timeline_png": f"{name}.timeline.png"}
    for f in outputs.values():
        (folder / f).write_bytes(b"x")
    results = [VideoResult(label=f"{name}.mp4", folder=name, video=f"/lib/{name}.mp4", status=SCORED,
                           duration_sec=4.0, cues=1, hit_points=2, hits_within_1_frame=2, music_lufs=-23.0,
                           timings_sec={"analyze": 0.5}, outputs=outputs),
               VideoResult(label="<b>bad</b>.mp4", folder="bad", video="/lib/bad.mp4", status=FAILED,
                           error="/lib/<b>bad</b>.mp4: not a readable video")]
    paths = write_reports(tmp_path, results, meta={"out_dir": str(tmp_path)}, totals=totals_of(results, wall_sec=2))
    page = _Page()
    page.feed(paths["html"].read_text())
    assert "script" not in page.tags and "onerror" not in page.attrs
    assert f"{name}.mp4" in page.text and "<b>bad</b>.mp4" in page.text and "not a readable video" in page.text
    assert sorted(unquote(u) for u in page.links) == sorted(f"{name}/{f}" for f in
                                                          [outputs["video"], outputs["video"], outputs["midi"],
                                                           outputs["timeline_png"]])
    assert all(not u.startswith(("/", "http")) for u in page.links)
    data = json.loads(paths["json"].read_text())
    assert data["schema"] == "tempscore.batch/1" and data["totals"]["failed_videos"] == ["<b>bad</b>.mp4"]
    import csv

    rows = list(csv.DictReader(paths["csv"].open()))
    assert rows[0]["video"] == f"{name}.mp4" and rows[0]["scored_video"] == f"{name}/{name}.scored.mp4"
    assert rows[1]["status"] == "failed" and rows[1]["error"].startswith("/lib/<b>bad</b>.mp4")


@pytest.mark.parametrize("args, words", [
    (["batch", "{lib}"], ["-o OUT"]),
    (["batch", "{tmp}/nothing", "-o", "{tmp}/out"], ["no such file or folder"]),
    (["batch", "{tmp}/empty", "-o", "{tmp}/out"], ["no videos in it"]),
    (["batch", "{lib}", "-o", "{tmp}/out", "--workers", "0"], ["--workers 0"]),
    (["batch", "{lib}", "-o", "{tmp}/out", "--style", "polka"], ["--style 'polka'"]),
    (["batch", "{tmp}/bad.csv", "-o", "{tmp}/out"], ["bad.csv line 2", "--style 'polka'"]),
    (["batch", "{lib}", "-o", "{lib}/a.mp4"], ["is a file"]),
])
def test_bad_usage_is_exit_2_in_one_line_before_anything_runs(tmp_path, args, words):
    lib = tmp_path / "lib"
    _touch(lib / "a.mp4")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text("path,style\nlib/a.mp4,polka\n")
    r = run_cli(*(a.format(lib=lib, tmp=tmp_path) for a in args))
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.stderr
    assert not (tmp_path / "out").exists()


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path):
    from tempscore.batch.state import batch_lock

    _touch(tmp_path / "lib" / "a.mp4")
    out = tmp_path / "out"
    with batch_lock(out):  # (a POSIX lock: another process sees it)
        r = run_cli_process("batch", tmp_path / "lib", "-o", out)
    assert r.returncode == 2 and "another batch is writing there (pid " in r.stderr, r.stderr


@given(a=st.floats(0, 5 * 3600), b=st.floats(0, 5 * 3600))
def test_a_ray_task_asks_for_more_the_longer_its_picture_up_to_the_spill(a, b):
    """A longer picture never asks for less; memory stops growing once the render's buffers go to
    files (23 minutes); 2 CPUs from 20 minutes; an unknown length asks as an hour does."""
    from tempscore.batch.ray_engine import (
        BUFFERS_IN_RAM_UP_TO_MIN,
        TASK_BASE_MEMORY_BYTES,
        TASK_MEMORY_PER_MIN_BYTES,
        task_resources,
    )

    (ca, ma), (cb, mb) = task_resources(min(a, b)), task_resources(max(a, b))
    assert ca <= cb and ma <= mb
    assert TASK_BASE_MEMORY_BYTES <= mb <= TASK_BASE_MEMORY_BYTES + BUFFERS_IN_RAM_UP_TO_MIN * TASK_MEMORY_PER_MIN_BYTES
    assert cb == (2 if max(a, b) >= 20 * 60 else 1)
    assert task_resources(None) == task_resources(3600.0)
