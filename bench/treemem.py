"""Run a command and sample the memory of its whole process tree (children included), once a second.

    python bench/treemem.py [--interval 1] -- tempscore score cut.mp4 -o out

Used by ``bench/feature.py`` and ``bench/score_memory.py``; run alone, prints the figures as JSON.

Every ``interval`` seconds the process and all its descendants (``/proc/PID/task/*/children``,
recursively: the synthesis worker, ffmpeg) are read from ``/proc/PID/status``: ``VmRSS`` (what
the kernel counts as resident for each, page cache mapped into it included), ``RssAnon``
(memory only swap could take back) and ``RssFile`` + ``RssShmem``. The peaks reported are of the
sums over the tree at one instant (a forked child's pages shared with its parent count twice,
as ``ps`` would add them up), and of the largest single process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["TreeMemory", "run_sampled", "tree_pids"]


@dataclass
class TreeMemory:
    """What :func:`run_sampled` measured (MiB, seconds)."""

    wall_sec: float = 0.0
    exit: int = 0
    cpu_sec: float = 0.0  # user + system of the whole tree (children waited for)
    peak_tree_rss_mb: float = 0.0
    peak_tree_anon_mb: float = 0.0
    peak_largest_rss_mb: float = 0.0
    peak_processes: int = 0
    samples: int = 0
    timeline: list = field(default_factory=list)  # [seconds, tree RSS MiB, tree anon MiB, processes] per sample
    #: each process seen: its name ("main" for the command's own, else its command's first words), peak
    #: RSS and peak anonymous memory (MiB)
    per_process: list = field(default_factory=list)
    #: the processes at the instant of the tree's peak RSS: [name, RSS MiB, anon MiB, file MiB] each
    at_peak: list = field(default_factory=list)
    at_peak_sec: float = 0.0


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every descendant of it alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
    return out


def _status_kb(pid: int) -> dict[str, int]:
    got: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                got[key] = int(rest.split()[0])
    return got


def _name(pid: int, root: int) -> str:
    """What a process of the tree is: ``main`` (the command itself), else its command line's first two
    words (a forked child of ``main`` shows ``main``'s)."""
    if pid == root:
        return "main"
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = Path(words[0].decode(errors="replace")).name
    return " ".join([first, *(w.decode(errors="replace") for w in words[1:2])]).strip()


def run_sampled(cmd: list[str], *, interval_sec: float = 1.0, env: dict | None = None,
                stdout=subprocess.PIPE, keep_timeline: bool = True) -> tuple[TreeMemory, str, str]:
    """Run ``cmd``, sampling its tree's memory; returns the figures, its stdout and its stderr."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env, text=True)
    m = TreeMemory()
    outs: dict[str, str] = {}

    def drain() -> None:  # read the pipes as they fill (a long run's progress lines)
        o, e = p.communicate()
        outs["out"], outs["err"] = o or "", e or ""

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    seen: dict[int, list] = {}  # pid -> [name, peak RSS KiB, peak anon KiB]
    while reader.is_alive():
        rss = anon = largest = 0
        pids = tree_pids(p.pid)
        now = []
        for pid in pids:
            st = _status_kb(pid)
            rss += st.get("VmRSS", 0)
            anon += st.get("RssAnon", 0)
            largest = max(largest, st.get("VmRSS", 0))
            if pid not in seen:
                seen[pid] = [_name(pid, p.pid), 0, 0]
            seen[pid][1] = max(seen[pid][1], st.get("VmRSS", 0))
            seen[pid][2] = max(seen[pid][2], st.get("RssAnon", 0))
            now.append([seen[pid][0], round(st.get("VmRSS", 0) / 1024, 1), round(st.get("RssAnon", 0) / 1024, 1),
                        round((st.get("RssFile", 0) + st.get("RssShmem", 0)) / 1024, 1)])
        m.samples += 1
        if rss / 1024 > m.peak_tree_rss_mb:
            m.at_peak, m.at_peak_sec = now, round(time.perf_counter() - t0, 1)
        m.peak_tree_rss_mb = max(m.peak_tree_rss_mb, rss / 1024)
        m.peak_tree_anon_mb = max(m.peak_tree_anon_mb, anon / 1024)
        m.peak_largest_rss_mb = max(m.peak_largest_rss_mb, largest / 1024)
        m.peak_processes = max(m.peak_processes, len(pids))
        if keep_timeline:
            m.timeline.append([round(time.perf_counter() - t0, 1), round(rss / 1024), round(anon / 1024), len(pids)])
        reader.join(interval_sec)
    m.wall_sec = round(time.perf_counter() - t0, 2)
    m.per_process = _per_process(seen)
    m.exit = p.returncode
    ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
    m.cpu_sec = round(ru.ru_utime + ru.ru_stime, 2)  # all children of this process so far: callers diff it
    for k in ("peak_tree_rss_mb", "peak_tree_anon_mb", "peak_largest_rss_mb"):
        setattr(m, k, round(getattr(m, k), 1))
    return m, outs.get("out", ""), outs.get("err", "")


def _per_process(seen: dict[int, list]) -> list:
    """The processes seen by name ([name, peak RSS MiB, peak anon MiB, how many had that name]), largest
    peak first: the synthesis workers, ffmpeg, ffprobe each one row."""
    rows: dict[str, list] = {}
    for name, rss, anon in seen.values():
        r = rows.setdefault(name, [name, 0.0, 0.0, 0])
        r[1], r[2], r[3] = max(r[1], round(rss / 1024, 1)), max(r[2], round(anon / 1024, 1)), r[3] + 1
    return sorted(rows.values(), key=lambda r: -r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        sys.exit("give a command after --")
    m, out, err = run_sampled(cmd, interval_sec=a.interval, stdout=subprocess.PIPE)
    sys.stderr.write(err[-2000:])
    d = asdict(m)
    d.pop("timeline")
    print(json.dumps(d, indent=1))


if __name__ == "__main__":
    main()
