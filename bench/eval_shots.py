"""Score detected shot boundaries against ground truth: precision, recall, F1 and frame offsets.

    python bench/eval_shots.py [--data ../shared/data] [--tolerance 1] [--methods classic,transnet,combined]
                               [--no-baseline] [--out bench/results/eval_shots.json]

For every ``<clip>.cuts.csv`` in the data folder it runs ``tempscore.vision.analyze`` (and, as
the baseline, PySceneDetect's own default ``detect-adaptive`` on the same file) and matches the
detected cut frames to the ground-truth frames one-to-one with the greedy TRECVID-style matching
PySceneDetect's benchmark uses: pairs are taken in order of increasing distance, each truth and
each detection used at most once, and only pairs within ``tolerance`` frames count.

Ground-truth CSV (``../shared/data/MANIFEST.md``): ``#`` comment lines, then a header with a
``frame`` column (0-based first frame of the new shot). A header-only file means no cuts. The
``*.cuts.csv`` files hold hard cuts, so tempscore's ``kind == "hard"`` cuts are scored against them
(PySceneDetect reports no kind: all its cuts are scored, so a fade it reports counts as a false
positive). Where a ``<clip>.transitions.csv`` exists, the recall of its gradual transitions
(fades, dissolves) by tempscore's ``kind == "gradual"`` cuts is reported too, and every gradual
detection that overlaps none of them is counted as a false one (a clip without that file has no
gradual transitions: bikes and bigbuckbunny, per MANIFEST.md). Each ``--methods`` entry is a
``--shot-detector`` (classic, transnet, combined).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class ShotScore:
    """Matching result for one clip (or summed over clips).

    ``mean_abs_offset`` is the mean |detected - truth| in frames over the matched pairs
    (``None`` when nothing matched).
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_abs_offset: float | None


def read_gt_csv(path: Path) -> list[int]:
    """Ground-truth cut frames from a ``*.cuts.csv`` (``#`` comments, a ``frame`` column)."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return []
    rows = list(csv.DictReader(lines))
    return sorted(int(r["frame"]) for r in rows)


def match_greedy(detected: list[int], truth: list[int], tolerance: int = 1) -> list[tuple[int, int]]:
    """One-to-one greedy matching: closest pairs first, each frame used once, ``|d - t| <= tolerance``.

    Parameters
    ----------
    detected, truth : list of int
        Cut frames (0-based first frames of new shots).
    tolerance : int
        Largest accepted offset, frames.

    Returns
    -------
    list of (detected, truth) pairs, sorted by truth frame.
    """
    pairs = sorted((abs(d - t), t, d) for d in set(detected) for t in set(truth) if abs(d - t) <= tolerance)
    used_d: set[int] = set()
    used_t: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, t, d in pairs:
        if d in used_d or t in used_t:
            continue
        used_d.add(d)
        used_t.add(t)
        out.append((d, t))
    return sorted(out, key=lambda p: p[1])


def score(detected: list[int], truth: list[int], tolerance: int = 1) -> ShotScore:
    """Precision, recall, F1 (at ``tolerance`` frames) and mean absolute frame offset.

    With no truth and no detection the clip is perfect (precision = recall = F1 = 1).
    """
    det = sorted(set(detected))
    tru = sorted(set(truth))
    m = match_greedy(det, tru, tolerance)
    return _from_counts(len(m), len(det) - len(m), len(tru) - len(m), [abs(d - t) for d, t in m])


def _from_counts(tp: int, fp: int, fn: int, offsets: list[int]) -> ShotScore:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    mao = round(sum(offsets) / len(offsets), 3) if offsets else None
    return ShotScore(tp, fp, fn, round(p, 4), round(r, 4), round(f, 4), mao)


def read_transitions_csv(path: Path) -> list[tuple[str, int, int]]:
    """Gradual transitions ``(kind, start_frame, end_frame)`` (inclusive) from a ``*.transitions.csv``."""
    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.DictReader(lines)) if lines else []
    return [(r["kind"], int(r["start_frame"]), int(r["end_frame"])) for r in rows if r["kind"] != "hard"]


def transition_recall(gradual: list[tuple[int, int]], truth: list[tuple[str, int, int]], tolerance: int = 1) -> dict:
    """Which true gradual transitions overlap a detected one (intervals widened by ``tolerance`` frames),
    and how many detections overlap no true one (``false``)."""

    def hit(s: int, e: int, a: int, b: int) -> bool:  # detected [s, e) overlaps true [a, b] within the tolerance
        return s <= b + tolerance and e - 1 >= a - tolerance

    found = {f"{k}:{a}-{b}": any(hit(s, e, a, b) for s, e in gradual) for k, a, b in truth}
    false = sum(1 for s, e in gradual if not any(hit(s, e, a, b) for _, a, b in truth))
    return {"found": found, "recall": round(sum(found.values()) / len(found), 4) if found else 1.0, "false": false}


def tempscore_cuts(video: Path, method: str = "classic") -> tuple[list[int], list[tuple[int, int]]]:
    """Hard-cut frames and gradual transitions ``[start, end)`` from ``tempscore.vision.analyze``."""
    from tempscore.vision import AnalyzeSettings, analyze

    a = analyze(video, settings=AnalyzeSettings(clip="off", dialogue=False, shot_detector=method))
    hard = [c.frame for c in a.cuts if c.kind == "hard"]
    gradual = [(c.frame, c.end_frame or c.frame + 1) for c in a.cuts if c.kind == "gradual"]
    return hard, gradual


def adaptive_baseline_cuts(video: Path) -> list[int]:
    """PySceneDetect's default ``detect-adaptive`` (its CLI defaults: auto downscale, default thresholds)."""
    from scenedetect import AdaptiveDetector, detect

    scenes = detect(str(video), AdaptiveDetector())
    return [s[0].frame_num for s in scenes[1:]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with <clip>.mp4 + <clip>.cuts.csv")
    ap.add_argument("--tolerance", type=int, default=1, help="frames (default 1)")
    ap.add_argument("--no-baseline", action="store_true", help="skip PySceneDetect detect-adaptive")
    ap.add_argument("--methods", default="classic,transnet,combined", help="tempscore shot detectors to score")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval_shots.json")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    gts = sorted(a.data.glob("*.cuts.csv"))
    if not gts:
        print(f"no *.cuts.csv in {a.data}", file=sys.stderr)
        return 2
    rows = []
    for gt in gts:
        clip = gt.with_name(gt.name[: -len(".cuts.csv")] + ".mp4")
        if not clip.is_file():
            continue
        truth = read_gt_csv(gt)
        row = {"clip": clip.name, "truth": truth}
        tr = gt.with_name(gt.name[: -len(".cuts.csv")] + ".transitions.csv")
        for method in a.methods.split(","):
            t = time.perf_counter()
            ours, gradual = tempscore_cuts(clip, method)
            who = "tempscore" if method == "classic" else f"tempscore_{method}"
            row[who] = {"cuts": ours, "sec": round(time.perf_counter() - t, 2), **asdict(score(ours, truth, a.tolerance)),
                        "gradual": gradual,
                        "transitions": transition_recall(gradual, read_transitions_csv(tr) if tr.is_file() else [],
                                                         a.tolerance)}
        if not a.no_baseline:
            t = time.perf_counter()
            base = adaptive_baseline_cuts(clip)
            row["detect_adaptive"] = {"cuts": base, "sec": round(time.perf_counter() - t, 2),
                                      **asdict(score(base, truth, a.tolerance))}
        rows.append(row)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"tolerance_frames": a.tolerance, "clips": rows}, indent=1))
    print(f"{'clip':20s} {'who':16s} {'P':>6s} {'R':>6s} {'F1':>6s} {'MAO':>6s}  cuts")
    for r in rows:
        for who in [k for k in r if k.startswith("tempscore")] + ["detect_adaptive"]:
            if who in r:
                s = r[who]
                mao = "-" if s["mean_abs_offset"] is None else f"{s['mean_abs_offset']:.2f}"
                print(f"{r['clip']:20s} {who:16s} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {mao:>6s}  "
                      f"{s['cuts']} (truth {r['truth']})")
                if "transitions" in s:
                    print(f"{'':20s} {'  gradual':16s} recall {s['transitions']['recall']:.3f} false "
                          f"{s['transitions']['false']} {s['transitions']['found']}")
    print(f"results in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
