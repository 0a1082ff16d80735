"""The page's timeline edits as plain functions, the planner keeping them (intensity, dragged edges),
and the upload checks on hand-built containers."""

from __future__ import annotations

import struct

import pytest
from tempscore.contracts import to_dict
from tempscore.errors import BadStageFile, InvalidSettings
from tempscore.models import compose
from tempscore.scoring import plan
from tempscore.ui import timeline_edits as E
from tempscore.ui.uploads import UploadRejected, check_content, container_kind, safe_stem
from tempscore.vision import analyze


@pytest.fixture(scope="module")
def analysed(clip_contrast):
    a = analyze(clip_contrast.path)
    tl = plan(a)
    assert len(tl.cues) >= 2
    return a, tl


def fresh(analysed):
    a, tl = analysed
    return a, plan(a)


def test_set_cue_fields_reports_what_changed_and_refuses_bad_values(analysed):
    a, tl = fresh(analysed)
    cue = tl.cues[0]
    other = next(m for m in ("tense", "serene") if m != cue.mood)
    assert E.set_cue_fields(tl, cue.id, mood=cue.mood) == []
    assert E.set_cue_fields(tl, cue.id, mood=other, key="E minor", intensity=0.9, locked=True) == [
        "mood", "key", "intensity", "locked"]
    assert (cue.mood, cue.key, cue.intensity, cue.locked) == (other, "E minor", 0.9, True)
    for kw, needle in (({"mood": "happy"}, "not one of"), ({"key": "H minor"}, "not a key"),
                       ({"intensity": -0.1}, "from 0 to 1"), ({"intensity": True}, "from 0 to 1"),
                       ({"locked": 1}, "true or false"), ({"tacet": "no"}, "true or false")):
        with pytest.raises(InvalidSettings, match=needle):
            E.set_cue_fields(tl, cue.id, **kw)
    with pytest.raises(InvalidSettings, match="does not exist"):
        E.set_cue_fields(tl, "7M7", mood="tense")


def test_a_tempo_and_a_metre_set_on_the_page_survive_replans_and_auto_hands_the_tempo_back(analysed):
    a, tl = fresh(analysed)
    cue = tl.cues[-1]
    planned_bpm = cue.auto["tempo_bpm"]
    assert E.set_cue_fields(tl, cue.id, tempo_bpm=90.0, beats_per_bar=3) == ["tempo_bpm", "beats_per_bar"]
    assert cue.tempo_locked and E.set_cue_fields(tl, cue.id, tempo_bpm=90.0, beats_per_bar=3) == []
    for _ in range(2):
        tl = plan(a, previous=tl)
        c = next(x for x in tl.cues if x.id == cue.id)
        assert (c.tempo_bpm, c.tempo_locked, c.beats_per_bar) == (90.0, True, 3)
        bars = {e.beats_per_bar for e in tl.tempo_map if c.start_sec - 1e-6 <= e.time_sec < c.end_sec - 1e-6 and e.bar_line}
        assert 3 in bars and bars <= {1, 2, 3}
        assert all(x.beats_per_bar == 4 for x in tl.cues if x.id != cue.id)
    assert E.set_cue_fields(tl, cue.id, tempo_bpm=planned_bpm, beats_per_bar=4) == ["tempo_bpm", "beats_per_bar"]
    assert not c.tempo_locked
    tl = plan(a, previous=tl)
    c = next(x for x in tl.cues if x.id == cue.id)
    assert (c.tempo_bpm, c.tempo_locked, c.beats_per_bar) == (planned_bpm, False, 4) and cue.id not in tl.edits.get(
        "cue_overrides", {})
    E.set_cue_fields(tl, cue.id, locked=True)
    with pytest.raises(InvalidSettings, match="is locked; unlock it"):
        E.set_cue_fields(tl, cue.id, tempo_bpm=100.0)


def test_a_theme_and_a_lead_set_on_the_page_survive_replans(analysed):
    a, tl = fresh(analysed)
    first, cue = tl.cues[0], tl.cues[-1]
    assert E.set_cue_fields(tl, cue.id, recalls=first.id, orchestration="solo cello") == ["recalls", "orchestration"]
    for _ in range(2):
        tl = plan(a, previous=tl)
        c = next(x for x in tl.cues if x.id == cue.id)
        assert (c.recalls, c.orchestration) == (first.id, "solo cello")
    score = compose(tl, seed=0, composer="rules")
    assert {p.program for p in score.parts for n in p.notes if c.start_sec <= n.start_sec < c.end_sec - 0.02} == {42}
    assert E.set_cue_fields(tl, cue.id, recalls="", orchestration="") == ["recalls", "orchestration"]
    tl = plan(a, previous=tl)
    c = next(x for x in tl.cues if x.id == cue.id)
    assert (c.recalls, c.orchestration) == (c.auto["recalls"], "")
    E.set_cue_fields(tl, cue.id, locked=True)
    assert E.set_cue_fields(tl, cue.id, title=" The Chase ") == ["title"]  # a name only: a locked cue takes it
    tl = plan(a, previous=tl)
    assert next(x for x in tl.cues if x.id == cue.id).title == "The Chase"
    E.set_cue_fields(tl, cue.id, locked=False)
    for kw, needle in (({"title": "a\nb"}, "one line"), ({"title": 5}, "one line"),
                       ({"recalls": cue.id}, "earlier cue"), ({"recalls": "9M9"}, "earlier cue"),
                       ({"orchestration": "kazoo"}, "not an instrument"), ({"orchestration": 3}, "must be text")):
        with pytest.raises(InvalidSettings, match=needle):
            E.set_cue_fields(tl, cue.id, **kw)


def test_an_intensity_edit_survives_replans_and_drives_the_orchestration(analysed):
    a, tl = fresh(analysed)
    cue = tl.cues[-1]
    assert "intensity" in cue.auto and cue.intensity == cue.auto["intensity"]
    counts = {}
    for value in (0.05, 0.95):
        t = plan(a)
        E.set_cue_fields(t, cue.id, intensity=value)
        for _ in range(2):
            t = plan(a, previous=t)
            c = next(x for x in t.cues if x.id == cue.id)
            assert c.intensity == value and c.auto["intensity"] == cue.auto["intensity"]
            assert "intensity" in c.why["edited"] and t.edits["cue_overrides"][cue.id]["intensity"] == value
        score = compose(t, seed=0, composer="rules")
        counts[value] = len({p.name for p in score.parts for n in p.notes if c.start_sec <= n.start_sec < c.end_sec})
    assert counts[0.95] > counts[0.05]  # more of the orchestra plays the louder cue
    # a locked cue keeps a hand-set intensity too
    t = plan(a)
    E.set_cue_fields(t, cue.id, intensity=0.77, locked=True)
    t = plan(a, previous=t)
    assert next(x for x in t.cues if x.id == cue.id).intensity == 0.77


def test_a_dragged_edge_is_kept_and_the_cues_are_replanned(analysed, clip_contrast):
    a, tl = fresh(analysed)
    left, right = tl.cues[0], tl.cues[1]
    frame = right.start_frame + 20
    assert E.move_cue_edge(tl, left.id, "end", frame) == (left.id, right.id)
    assert (left.end_frame, right.start_frame, left.edges_locked, right.edges_locked) == (frame, frame, True, True)
    assert left.end_sec == right.start_sec == pytest.approx(frame / float(clip_contrast.fps))
    t = plan(a, previous=tl)
    for _ in range(2):
        assert (t.cues[0].end_frame, t.cues[1].start_frame) == (frame, frame)
        assert t.cues[0].edges_locked and t.cues[1].edges_locked and not t.cues[1].locked
        assert not t.cues[1].tempo_locked and t.cues[1].why["tempo"].startswith("cut rate")
        t = plan(a, previous=t)
    # releasing the edges hands them back to the planner
    for c in t.cues:
        E.set_cue_fields(t, c.id, edges_locked=False)
    t = plan(a, previous=t)
    assert [(c.start_frame, c.end_frame) for c in t.cues] == [(c.start_frame, c.end_frame) for c in plan(a).cues]


def test_edge_moves_that_cannot_be_made(analysed):
    a, tl = fresh(analysed)
    first, second = tl.cues[0], tl.cues[1]
    with pytest.raises(InvalidSettings, match="edge of the picture"):
        E.move_cue_edge(tl, first.id, "start", 10)
    with pytest.raises(InvalidSettings, match="edge of the picture"):
        E.move_cue_edge(tl, tl.cues[-1].id, "end", 10)
    with pytest.raises(InvalidSettings, match="must stay within frames"):
        E.move_cue_edge(tl, second.id, "start", first.start_frame + 3)  # would leave 3 frames of cue 1
    with pytest.raises(InvalidSettings, match="whole frame"):
        E.move_cue_edge(tl, second.id, "start", 100.5)
    with pytest.raises(InvalidSettings, match="'start' or 'end'"):
        E.move_cue_edge(tl, second.id, "middle", 100)
    assert to_dict(tl) == to_dict(plan(a))  # nothing was changed by the refused edits


def test_hits_and_seeds(analysed):
    a, tl = fresh(analysed)
    cue = tl.cues[0]
    f = (cue.start_frame + cue.end_frame) // 2
    if any(h.frame == f for h in tl.hit_points):
        f += 1
    hit = E.add_hit(tl, f)
    assert (hit.kind, hit.how, hit.cue_id) == ("user", "user", cue.id)
    assert [h.frame for h in tl.hit_points] == sorted(h.frame for h in tl.hit_points)
    with pytest.raises(InvalidSettings, match="already has a hit"):
        E.add_hit(tl, f)
    start = tl.cues[1].start_frame
    with pytest.raises(InvalidSettings, match="already has a hit"):  # the downbeat on the cue's opening cut
        E.add_hit(tl, start)
    E.remove_hit(tl, start)
    with pytest.raises(InvalidSettings, match="starts a cue"):
        E.add_hit(tl, start)
    with pytest.raises(InvalidSettings, match="whole frame number"):
        E.add_hit(tl, tl.video.frame_count)
    assert E.remove_hit(tl, f).frame == f
    with pytest.raises(InvalidSettings, match="no hit point at frame"):
        E.remove_hit(tl, f)
    assert E.next_seed(tl, cue.id, run_seed=4) == 5 and E.next_seed(tl, cue.id, run_seed=4) == 6
    cue.locked = True  # its notes are kept: a new seed would silently change nothing
    with pytest.raises(InvalidSettings, match="is locked; unlock it to give it new notes"):
        E.next_seed(tl, cue.id, run_seed=0)
    assert cue.seed == 6
    cue.locked, cue.tacet = False, True
    with pytest.raises(InvalidSettings, match="tacet"):
        E.next_seed(tl, cue.id, run_seed=0)


def test_save_timeline_checks_like_plan_does(analysed, tmp_path):
    a, tl = fresh(analysed)
    tl.cues[0].end_sec = (tl.cues[1].start_sec + tl.cues[1].end_sec) / 2  # overlaps the next cue
    with pytest.raises(BadStageFile, match="overlaps"):
        E.save_timeline(tl, tmp_path / "x.timeline.json")
    assert not (tmp_path / "x.timeline.json").exists()


# ---------------------------------------------------------------------------- upload checks
def test_safe_stem():
    assert safe_stem("My Cut (v2).mov") == "My_Cut_v2"
    assert safe_stem("../../etc/passwd.mp4") == "passwd"
    assert safe_stem("C:\\edits\\reel 1.mkv") == "reel_1"
    assert safe_stem(".hidden.mp4") == "hidden"
    assert safe_stem("....mp4") == "video" and safe_stem("€€€.mp4") == "video"
    assert safe_stem("cut.final.v3.mp4") == "cut.final.v3"


def _box(kind: bytes, payload: bytes, *, large: bool = False, to_end: bool = False) -> bytes:
    if to_end:
        return struct.pack(">I4s", 0, kind) + payload
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_iso_box_walk(tmp_path):
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    cases = {
        "whole": (ftyp + _box(b"moov", b"x" * 40) + _box(b"mdat", b"y" * 100), None),
        "64-bit mdat": (ftyp + _box(b"moov", b"x" * 40) + _box(b"mdat", b"y" * 100, large=True), None),
        "mdat to the end": (ftyp + _box(b"moov", b"x" * 40) + _box(b"mdat", b"y" * 100, to_end=True), None),
        "cut inside mdat": ((ftyp + _box(b"moov", b"x" * 40) + _box(b"mdat", b"y" * 100))[:-30], "inside its 'mdat'"),
        "no index": (ftyp + _box(b"mdat", b"y" * 100), "no 'moov'"),
        "cut in a header": (ftyp + _box(b"moov", b"x" * 40) + b"\x00\x00", "box header"),
        "box too small": (ftyp + struct.pack(">I4s", 4, b"free") + b"zzzz", "damaged box"),
    }
    for name, (data, needle) in cases.items():
        p = tmp_path / "c.mp4"
        p.write_bytes(data)
        assert container_kind(data[:12]) == "iso"
        if needle is None:
            check_content(p, "cut.mp4")
        else:
            with pytest.raises(UploadRejected, match=needle) as exc:
                check_content(p, "cut.mp4")
            assert exc.value.status == 422 and str(exc.value).startswith("cut.mp4: "), name


def test_matroska_size_check(tmp_path):
    header = b"\x1a\x45\xdf\xa3" + bytes([0x80 | 4]) + b"abcd"
    segment = b"\x18\x53\x80\x67"
    p = tmp_path / "c.mkv"
    p.write_bytes(header + segment + bytes([0x80 | 10]) + b"0123456789")
    check_content(p, "c.mkv")
    p.write_bytes(header + segment + bytes([0x80 | 10]) + b"01234")
    with pytest.raises(UploadRejected, match="5 bytes shorter"):
        check_content(p, "c.mkv")
    p.write_bytes(header + segment + b"\x01\xff\xff\xff\xff\xff\xff\xff" + b"live")  # unknown size: can't tell
    check_content(p, "c.mkv")
    for data, status in ((b"", 400), (b"GIF89a....", 415), (b"\x89PNG\r\n\x1a\n", 415)):
        p.write_bytes(data)
        with pytest.raises(UploadRejected) as exc:
            check_content(p, "c.mkv")
        assert exc.value.status == status


def test_a_locked_cue_keeps_its_fields_until_unlocked(analysed):
    """As on the CLI: a locked cue's mood, key, intensity and tacet stay; unlocking in the same edit
    (or before) lets them change; fields and the lock set together on an unlocked cue still work."""
    a, tl = fresh(analysed)
    cue = tl.cues[0]
    other = next(m for m in ("tense", "serene") if m != cue.mood)
    E.set_cue_fields(tl, cue.id, locked=True)
    for kw in ({"mood": other}, {"key": "E minor"}, {"intensity": 0.5 if cue.intensity != 0.5 else 0.6},
               {"tacet": True}):
        with pytest.raises(InvalidSettings, match="is locked; unlock it"):
            E.set_cue_fields(tl, cue.id, **kw)
    assert E.set_cue_fields(tl, cue.id, mood=cue.mood) == []  # the value it has: nothing to refuse
    assert E.set_cue_fields(tl, cue.id, mood=other, locked=False) == ["mood", "locked"]
    assert E.set_cue_fields(tl, cue.id, key="E minor", locked=True) == ["key", "locked"]
