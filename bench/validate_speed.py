"""What the one validation of a timeline costs every command that reads one (scoring/validate.py).

Builds a synthetic timeline of a long film (default 2 hours: 200 cues with kept takes, 10 hit
points a cue, curves at 10 Hz), then times, alternating in one run, reading it without checks
(``read_stage``: JSON parse and contract build, the baseline) and reading it checked
(``load_timeline``). Prints the medians and their ratio as JSON.

    python bench/validate_speed.py [--hours 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def synthetic_timeline(hours: float) -> dict:
    """A plausible timeline of ``hours`` of 25 fps picture, as the planner writes one (cues with takes)."""
    dur, fps = hours * 3600.0, 25
    n_cues = max(1, int(dur / 36))
    take = {"seed": 7, "frame": 0, "composer": "transformer:v1", "for": {"key": "D minor", "mood": "sombre"},
            "bars": [{"chord": k % 7 - 1, "notes": [[p * 4, 60 + (p * 5 + k) % 24, 4] for p in range(4)]}
                     for k in range(18)]}
    cues, hits, tempo = [], [], []
    for i in range(n_cues):
        s, e = i * dur / n_cues, (i + 1) * dur / n_cues
        c = {"id": f"{i + 1}M1", "start_sec": s, "end_sec": e, "start_frame": round(s * fps), "end_frame": round(e * fps),
             "mood": "sombre", "valence": -0.3, "arousal": -0.2, "intensity": 0.4, "key": "D minor", "tempo_bpm": 120.0,
             "beats_per_bar": 4, "start_bar": 1 + i * 18, "beats": int((e - s) * 2), "locked": True, "take": take,
             "seed": 7, "why": {"tempo": "cut rate"}, "auto": {"start_frame": round(s * fps), "end_frame": round(e * fps),
                                                                "start_sec": s, "end_sec": e}}
        cues.append(c)
        tempo.append({"time_sec": s, "bpm": 120.0, "beats_per_bar": 4, "bar": 1 + i * 18, "bar_line": True})
        for k in range(10):
            f = round((s + 1 + k * 3) * fps)
            hits.append({"frame": f, "time_sec": f / fps, "kind": "cut", "strength": 0.9, "bar": 1, "beat": 1.0,
                         "offset_frames": 0.1, "cue_id": c["id"], "timecode": "", "how": "tempo"})
    n = int(dur * 10)
    return {"schema": "tempscore.timeline/1",
            "video": {"path": "/film.mp4", "fps_num": fps, "fps_den": 1, "frame_count": int(dur * fps), "duration_sec": dur,
                      "width": 1920, "height": 1080},
            "cues": cues, "tempo_map": tempo, "hit_points": hits, "auto_hit_frames": [h["frame"] for h in hits],
            "curves": {"rate_hz": 10.0, "intensity": [0.5123] * n, "arousal": [0.1] * n, "valence": [-0.2] * n}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    from tempscore.contracts import TIMELINE_SCHEMA, Timeline, read_stage
    from tempscore.scoring.validate import load_timeline

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "film.timeline.json"
        path.write_text(json.dumps(synthetic_timeline(a.hours), indent=1))
        raw = path.read_bytes()
        load_timeline(path, raw=raw)  # it is valid (else this raises), and everything is imported
        plain, checked = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            read_stage(path, Timeline, TIMELINE_SCHEMA, raw=raw)
            t1 = time.perf_counter()
            load_timeline(path, raw=raw)
            t2 = time.perf_counter()
            plain.append(t1 - t0)
            checked.append(t2 - t1)
    out = {"hours": a.hours, "file_mb": round(len(raw) / 1e6, 2), "read_stage_sec": round(statistics.median(plain), 3),
           "load_timeline_sec": round(statistics.median(checked), 3),
           "ratio": round(statistics.median(checked) / statistics.median(plain), 2)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
