"""The timeline picture: affect curves, cuts, cues, beats and hit points (PNG via matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contracts import Analysis, Timeline
from ..fileio import atomic_path
from .tempo import TempoMap


def write_timeline_png(analysis: Analysis, timeline: Timeline, path: Path, *, protect: tuple[Path, ...] = ()) -> Path:
    """Draw intensity/arousal/valence, cuts, cue spans with tempo and key, bar lines and hits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # not pyplot: no global figure state, and a faster import

    c = timeline.curves
    t = (np.arange(len(c.intensity)) + 0.5) / c.rate_hz
    dur = timeline.video.duration_sec
    fig = Figure(figsize=(12, 4.2))
    FigureCanvasAgg(fig)
    ax, axg = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colors = {"excited": "#f4a261", "tense": "#e76f51", "serene": "#8ecae6", "sombre": "#6c757d"}
    for cue in timeline.cues:
        ax.axvspan(cue.start_sec, cue.end_sec, color=colors.get(cue.mood, "#cccccc"), alpha=0.25, lw=0)
        ax.text(cue.start_sec + 0.01 * dur, 1.02, f"{cue.id} {cue.mood}\n{cue.key}, {cue.tempo_bpm:.1f} BPM",
                fontsize=7, va="bottom")
    ax.plot(t, c.intensity, color="black", lw=1.6, label="intensity")
    ax.plot(t, (np.asarray(c.arousal) + 1) / 2, color="#d62828", lw=1, label="arousal")
    ax.plot(t, (np.asarray(c.valence) + 1) / 2, color="#2a9d8f", lw=1, label="valence")
    for cut in analysis.cuts:
        ax.axvline(cut.time_sec, color="#444444", lw=0.6, ls="--" if cut.kind == "gradual" else "-")
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("0..1")
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    ax.set_title(f"{Path(timeline.video.path).name}: cues, affect, cuts (emotion: {timeline.emotion_source})",
                 fontsize=9)
    tmap = TempoMap(timeline.tempo_map)
    total_beats = tmap.time_to_beats(dur)
    for b in range(int(total_beats) + 1):
        tb = tmap.beats_to_time(b)
        bar, beat = tmap.bar_beat(tb)
        axg.axvline(tb, color="#999999" if abs(beat - 1) > 1e-6 else "#222222", lw=0.4 if abs(beat - 1) > 1e-6 else 0.9)
    for h in timeline.hit_points:
        on = abs(h.offset_frames) <= 1.0
        axg.plot([h.time_sec], [0.6], marker="v", color="#2b9348" if on else "#d00000", ms=7)
    for cue in timeline.cues:
        for d in cue.why.get("hits_dropped", []):
            axg.plot([d["time_sec"]], [0.6], marker="x", color="#d00000", ms=7)
    for sgg in timeline.suggestions:
        axg.annotate(f"{sgg['trim_frames']:+d}", (sgg["frame"] / (timeline.video.fps_num / timeline.video.fps_den), 0.25),
                     fontsize=6, color="#9d0208", ha="center")
    ax2 = axg.twinx()
    ts = np.linspace(0, dur, 400)
    ax2.plot(ts, [tmap.bpm_at(x) for x in ts], color="#3a0ca3", lw=0.8)
    ax2.set_ylabel("BPM", fontsize=7, color="#3a0ca3")
    ax2.tick_params(labelsize=6)
    axg.set_yticks([])
    axg.set_ylabel("beats/hits", fontsize=7)
    axg.set_xlabel("seconds (green: hit on the grid, red x: cut left unhit, numbers: trim suggestions in frames; line: tempo)")
    axg.set_xlim(0, dur)
    fig.tight_layout()
    with atomic_path(Path(path), protect=protect) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m tempscore.scoring.picture ANALYSIS TIMELINE PNG`` (used to draw in the background)."""
    import sys

    from ..contracts import ANALYSIS_SCHEMA, TIMELINE_SCHEMA, read_stage

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m tempscore.scoring.picture ANALYSIS.json TIMELINE.json OUT.png", file=sys.stderr)
        return 2
    analysis = read_stage(Path(args[0]), Analysis, ANALYSIS_SCHEMA)
    timeline = read_stage(Path(args[1]), Timeline, TIMELINE_SCHEMA)
    write_timeline_png(analysis, timeline, Path(args[2]), protect=(Path(analysis.video.path),))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
