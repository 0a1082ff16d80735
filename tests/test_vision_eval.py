"""bench/eval_shots.py: greedy one-to-one matching and the scores it reports."""

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA

spec = importlib.util.spec_from_file_location("eval_shots", REPO / "bench" / "eval_shots.py")
ev = importlib.util.module_from_spec(spec)
sys.modules["eval_shots"] = ev  # dataclasses look their module up
spec.loader.exec_module(ev)


def test_greedy_matching_is_one_to_one_and_closest_first():
    # detection 11 is within 1 of both 10 and 12; closest pairs go first:
    # (12, 12) distance 0, then (11, 10) distance 1; 50 has no truth near it
    assert ev.match_greedy([11, 12, 50], [10, 12], tolerance=1) == [(11, 10), (12, 12)]
    # two detections near one truth: only one matches
    assert ev.match_greedy([9, 10], [10], tolerance=1) == [(10, 10)]


def test_scores():
    s = ev.score([30, 77, 137, 300], [30, 76, 137, 187], tolerance=1)
    assert (s.tp, s.fp, s.fn) == (3, 1, 1)
    assert s.precision == 0.75 and s.recall == 0.75 and s.f1 == 0.75
    assert s.mean_abs_offset == pytest.approx(1 / 3, abs=1e-3)
    assert ev.score([], [], tolerance=1).f1 == 1.0
    assert ev.score([5], [], tolerance=1).precision == 0.0
    assert ev.score([32], [30], tolerance=1).tp == 0  # 2 frames off is a miss at +-1


def test_transition_recall():
    truth = [("fade_in", 210, 240), ("dissolve", 528, 558)]
    r = ev.transition_recall([(209, 238), (400, 420)], truth)
    assert r["found"] == {"fade_in:210-240": True, "dissolve:528-558": False} and r["recall"] == 0.5
    assert r["false"] == 1  # (400, 420) overlaps no true transition


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_reads_ground_truth_csvs(tmp_path: Path):
    assert ev.read_gt_csv(SHARED_DATA / "bikes.cuts.csv") == [30, 76, 137, 187, 242]
    assert ev.read_gt_csv(SHARED_DATA / "bigbuckbunny.cuts.csv") == []
    kinds = [k for k, _, _ in ev.read_transitions_csv(SHARED_DATA / "testvideo.transitions.csv")]
    assert "dissolve" in kinds and "hard" not in kinds
