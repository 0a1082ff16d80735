"""A feature-length run: `tempscore score` on a generated 2-hour 1080p 24 fps cut, beside the time
ffmpeg takes only to decode the same file, with the memory of the whole process tree sampled every
second and the disk the run used.

    python bench/feature.py [--minutes 120] [--stems] [--skip-plain] [--repeat-min 20]

The cut is made once and kept in ``build/feature-<minutes>min/`` (generating it takes a long
while; delete the folder to make it again):

- **picture**: 1920x1080 at 24 fps, H.264 (crf 23, veryfast; about 2 Mb/s, so that a 2-hour cut
  fits a shared disk: a camera original or an editor's export decodes slower, which makes the
  decode-only floor higher and tempscore's share of the time smaller); shot lengths drawn from a
  log-normal distribution with a 3.5 s median (0.5-30 s; feature films average 2.5-6 s), each
  shot a different moving lavfi picture. ``--repeat-min`` minutes of distinct picture are made
  and repeated to the full length (stream-copied: it decodes like any other H.264);
- **sound** (the whole length, never repeated): dialogue-like lines (glottal pulses through vowel
  formants in syllables, 1-7 s lines with pauses, about 40 % of the time: what the voice activity
  detector finds as dialogue) over music-like production audio (chords of decaying partials on a
  beat, changing every few seconds) and room tone, stereo 48 kHz AAC.

Then, each in the same run: ``ffmpeg -i cut.mp4 -map 0:v:0 -f null -`` (decode only, the floor),
``tempscore score`` from an empty output folder and, unless ``--skip-stems``, ``tempscore score
--stems`` from another. Each score's wall time, CPU time, peak RSS (tree and largest process),
peak disk used in its output folder (its files and the render's nameless working files, every 2 s)
and stage timings are written to
``bench/results/feature_<minutes>min.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/support
sys.path.insert(0, str(Path(__file__).parent))
from treemem import run_sampled, tree_pids

from support.clips import ffmpeg_exe, make_cut_clip, run_ffmpeg

SR = 48000
FPS = 24
SIZE = (1920, 1080)
#: lavfi pictures for the shots (the Mandelbrot set is left out: at 1080p
#: it takes longer to draw than to encode)
LOOKS = (
    "testsrc2", "smptehdbars", "gradients=speed=0.05:c0=#ff8000:c1=#400020:seed=1", "rgbtestsrc", "testsrc",
    "gradients=speed=0.03:c0=#00a0ff:c1=#003000:type=radial:seed=2", "yuvtestsrc",
    "gradients=speed=0.02:c0=#202020:c1=#e0d0b0:seed=3")
#: minutes of picture made per ffmpeg run (its filter graph holds every shot of a part)
PART_MIN = 2.0


def shot_lengths(total_frames: int, rng: np.random.Generator) -> list[int]:
    """Shot lengths in frames, log-normal around 3.5 s (0.5-30 s), summing to ``total_frames``."""
    shots: list[int] = []
    while sum(shots) < total_frames:
        sec = float(np.clip(rng.lognormal(np.log(3.5), 0.7), 0.5, 30.0))
        shots.append(max(int(0.5 * FPS), int(round(sec * FPS))))
    shots[-1] -= sum(shots) - total_frames
    if shots[-1] < FPS // 2 and len(shots) > 1:  # no sliver at the end
        shots[-2] += shots.pop()
    return shots


def make_picture(work: Path, minutes: float, rng: np.random.Generator) -> Path:
    """``minutes`` of distinct 1080p picture (no sound), in parts joined without re-encoding."""
    parts = []
    for k in range(int(np.ceil(minutes / PART_MIN))):
        part = work / f"picture{k:03d}.mp4"
        frames = int(round(min(PART_MIN, minutes - k * PART_MIN) * 60 * FPS))
        if not part.is_file():
            tmp = part.with_suffix(".tmp.mp4")
            make_cut_clip(tmp, shot_lengths(frames, rng), fps=FPS, size=SIZE, audio=False,
                          looks=LOOKS[k % len(LOOKS):] + LOOKS[:k % len(LOOKS)], crf=23, preset="veryfast")
            tmp.replace(part)
        parts.append(part)
        print(f"  picture part {k + 1}: {part.stat().st_size / 2**20:.0f} MB", file=sys.stderr, flush=True)
    return concat(parts, work / "picture.mp4", repeat=1)


def concat(parts: list[Path], out: Path, *, repeat: int) -> Path:
    """``parts`` joined ``repeat`` times over, stream-copied."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p.resolve()}'\n" for _ in range(repeat) for p in parts))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)], what=f"joining {out.name}")
    return out


def _formant_syllables(n: int, rng: np.random.Generator) -> np.ndarray:
    """Voiced speech-like sound of ``n`` samples: a glottal pulse train (100-220 Hz, drifting)
    through three vowel formants, in syllables of 0.12-0.3 s."""
    from scipy.signal import lfilter

    vowels = [[(730, 90), (1090, 110), (2440, 170)], [(270, 60), (2290, 100), (3010, 120)],
              [(570, 80), (840, 90), (2410, 160)], [(300, 60), (870, 90), (2240, 150)],
              [(440, 70), (1020, 100), (2240, 150)]]
    out, total = [], 0
    f0 = rng.uniform(100, 220)
    while total < n:
        m = int(rng.uniform(0.12, 0.3) * SR)
        t = np.arange(m) / SR
        phase = np.cumsum(f0 * rng.uniform(0.9, 1.1) * (1 + 0.06 * np.sin(2 * np.pi * 3 * t)) / SR)
        y = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
        for f, bw in vowels[rng.integers(len(vowels))]:
            r = np.exp(-np.pi * bw / SR)
            y = lfilter([1], [1, -2 * r * np.cos(2 * np.pi * f / SR), r * r], y)
        out += [y * np.hanning(m) / (np.abs(y).max() + 1e-9), np.zeros(int(rng.uniform(0.03, 0.12) * SR))]
        total += m + len(out[-1])
    return np.concatenate(out)[:n]


def _music_bed(start: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like stereo audio: a chord of decaying partials struck on every beat (90-130 BPM),
    the chord changing every few seconds."""
    out = np.zeros((n, 2))
    bpm = rng.uniform(90, 130)
    beat = int(SR * 60 / bpm)
    t = np.arange(beat) / SR
    env = np.exp(-t * 3.0)
    pos = 0
    while pos < n:
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        chord = [root, root * 2 ** (4 / 12) if rng.random() < 0.5 else root * 2 ** (3 / 12), root * 1.5, root * 2]
        note = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) / (1 + i) for i, f in enumerate(chord)) * env
        for _ in range(int(rng.integers(4, 12))):  # beats on this chord
            if pos >= n:
                break
            k = min(beat, n - pos)
            pan = rng.uniform(0.3, 0.7)
            out[pos:pos + k, 0] += note[:k] * (1 - pan)
            out[pos:pos + k, 1] += note[:k] * pan
            pos += k
    return out


def write_sound(path: Path, seconds: float, rng: np.random.Generator, *, block_sec: float = 60.0) -> Path:
    """The production audio (dialogue over music over room tone), made a minute at a time and
    piped to ffmpeg's AAC encoder (nothing full-length in memory)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(SR),
           "-ac", "2", "-i", "-", "-c:a", "aac", "-b:a", "192k", str(path)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    total = int(seconds * SR)
    talking, left = False, 0
    for start in range(0, total, int(block_sec * SR)):
        n = min(int(block_sec * SR), total - start)
        x = 0.12 * _music_bed(start, n, rng) + 0.003 * rng.standard_normal((n, 2))
        pos = 0
        while pos < n:  # lines of dialogue and the pauses between them, carried across blocks
            if left == 0:
                talking = not talking if talking else rng.random() < 0.6
                left = int((rng.uniform(1.0, 7.0) if talking else rng.uniform(0.5, 5.0)) * SR)
            k = min(left, n - pos)
            if talking:
                x[pos:pos + k] += 0.35 * _formant_syllables(k, rng)[:, None]
            pos += k
            left -= k
        p.stdin.write(np.clip(x, -1, 1).astype("<f4").tobytes())
    p.stdin.close()
    if p.wait() != 0:
        raise SystemExit("ffmpeg failed encoding the production audio")
    return path


def feature_cut(minutes: float, repeat_min: float) -> Path:
    """The generated cut of ``minutes`` (made once, kept under build/)."""
    work = REPO / "build" / f"feature-{minutes:g}min"
    cut = work / "feature.mp4"
    if cut.is_file():
        return cut
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    distinct = min(minutes, repeat_min)
    t = time.perf_counter()
    print(f"generating {minutes:g} min of 1080p{FPS} ({distinct:g} min of distinct picture) in {work} ...",
          file=sys.stderr, flush=True)
    picture = work / "picture.mp4"
    if not picture.is_file():
        picture = make_picture(work, distinct, rng)
    repeats = int(np.ceil(minutes / distinct))
    full = concat([picture], work / "picture_full.mp4", repeat=repeats) if repeats > 1 else picture
    sound = work / "sound.m4a"
    if not sound.is_file():
        write_sound(work / "sound.tmp.m4a", minutes * 60, rng).replace(sound)
    tmp = work / "feature.tmp.mp4"
    run_ffmpeg(["-i", str(full), "-i", str(sound), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                "-t", f"{minutes * 60:.3f}", str(tmp)], what="muxing the feature")
    tmp.replace(cut)
    for p in work.glob("picture*"):
        if p.suffix == ".mp4" and p.name.startswith("picture_full"):
            p.unlink()
    print(f"generated {cut} ({cut.stat().st_size / 2**30:.2f} GB) in {time.perf_counter() - t:.0f} s",
          file=sys.stderr, flush=True)
    return cut


def decode_floor(video: Path) -> dict:
    """ffmpeg decoding the picture and nothing else: wall and CPU seconds."""
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video), "-map", "0:v:0",
                    "-f", "null", "-"], check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_sec": round(time.perf_counter() - t, 1),
            "cpu_sec": round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 1)}


def disk_used_bytes(folder: Path, pids: list[int]) -> int:
    """Bytes allocated on disk under ``folder``: its files, and the files there that ``pids`` hold
    open after removing their names (the render's working buffers, :mod:`tempscore.render.spill`)."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
    where = str(folder.resolve())
    seen: set[tuple[int, int]] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith(where) and target.endswith(" (deleted)"):
                        st = os.stat(f"/proc/{pid}/fd/{fd}")
                        if (st.st_dev, st.st_ino) not in seen:
                            seen.add((st.st_dev, st.st_ino))
                            total += st.st_blocks * 512
    return total


def score_run(video: Path, out: Path, extra: list[str]) -> dict:
    """``tempscore score`` from an empty ``out``: time, memory of the tree, disk used at its peak
    (:func:`disk_used_bytes`, every 2 s)."""
    import resource

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    peak_used = [0]
    done = threading.Event()
    me = os.getpid()

    def watch_disk() -> None:
        while not done.wait(2.0):
            kids = [p for p in tree_pids(me) if p != me]
            peak_used[0] = max(peak_used[0], disk_used_bytes(out, kids))

    th = threading.Thread(target=watch_disk, daemon=True)
    th.start()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [str(Path(sys.executable).with_name("tempscore")), "score", str(video), "-o", str(out), "--json", *extra]
    m, stdout, stderr = run_sampled(cmd, interval_sec=1.0, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    th.join()
    row = {"options": extra, "exit": m.exit, "wall_sec": m.wall_sec,
           "cpu_sec": round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 1),
           "peak_tree_rss_mb": m.peak_tree_rss_mb, "peak_tree_anon_mb": m.peak_tree_anon_mb,
           "peak_largest_rss_mb": m.peak_largest_rss_mb, "peak_processes": m.peak_processes,
           "per_process": m.per_process, "at_peak": m.at_peak, "at_peak_sec": m.at_peak_sec,
           "peak_disk_used_gb": round(max(peak_used[0], disk_used_bytes(out, [])) / 2**30, 2),
           "outputs_gb": round(disk_used_bytes(out, []) / 2**30, 2),
           "rss_timeline": m.timeline[:: max(1, len(m.timeline) // 400)]}  # [s, tree RSS MB, tree anon MB, processes]
    if m.exit == 0:
        summary = json.loads(stdout)
        row["stages_sec"] = summary["timings_sec"]
        row["render_sec"] = summary["render"]["timings_sec"]
        row["cues"] = len(summary["compose"]["cue_report"])
        row["cuts"] = summary["analyze"]["cuts"]
        row["buffers_on_disk_mb"] = summary["render"].get("buffers_on_disk_mb")
    else:
        row["error"] = stderr.strip().splitlines()[-3:]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--repeat-min", type=float, default=20.0, help="minutes of distinct picture, repeated")
    ap.add_argument("--skip-stems", action="store_true", help="no second run with --stems")
    ap.add_argument("--stems-only", action="store_true", help="only the run with --stems (and the decode beside it)")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    video = feature_cut(a.minutes, a.repeat_min)
    if a.generate_only:
        return
    out_json = a.out or Path(__file__).parent / "results" / f"feature_{a.minutes:g}min.json"
    work = REPO / "build" / f"feature-{a.minutes:g}min"
    result: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version(),
                                "ram_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
                                "load_avg_at_start": os.getloadavg()},
                    "video": {"path": str(video), "minutes": a.minutes, "size": f"{SIZE[0]}x{SIZE[1]}", "fps": FPS,
                              "gb": round(video.stat().st_size / 2**30, 2)}}
    result["decode_only"] = decode_floor(video)
    print(f"decode only: {result['decode_only']}", file=sys.stderr, flush=True)
    runs = ([] if a.stems_only else [("score", [])]) + ([] if a.skip_stems else [("score_stems", ["--stems"])])
    for name, extra in runs:
        row = score_run(video, work / f"out-{name}", extra)
        row["ratio_wall_to_decode"] = round(row["wall_sec"] / result["decode_only"]["wall_sec"], 2)
        result[name] = row
        print(f"{name}: {json.dumps({k: v for k, v in row.items() if k != 'rss_timeline'})}", file=sys.stderr,
              flush=True)
        shutil.rmtree(work / f"out-{name}", ignore_errors=True)
    result["decode_only_after"] = decode_floor(video)  # the machine's load may have moved meanwhile
    for name, _ in runs:  # the runs against the decode after them too, and CPU to CPU (the load moves wall times)
        row = result[name]
        row["ratio_wall_to_decode_after"] = round(row["wall_sec"] / result["decode_only_after"]["wall_sec"], 2)
        row["ratio_cpu_to_decode"] = round(row["cpu_sec"] / result["decode_only"]["cpu_sec"], 2)
    result["load_avg_at_end"] = os.getloadavg()
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1))
    print(f"results in {out_json}", file=sys.stderr)


if __name__ == "__main__":
    main()
