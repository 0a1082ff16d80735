"""What editors see in their NLE's timeline, for the spotting page: a thumbnail per shot and the
waveforms of the production audio and of the score, computed once per file version and cached in
the project's cache folder."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["MAX_THUMBS", "PEAK_BINS", "shot_thumbnails", "waveform_peaks"]

#: Most thumbnails drawn (a long film's shots are sampled evenly beyond this).
MAX_THUMBS = 400
#: Thumbnail height (px) and waveform resolution (bins over the whole programme).
THUMB_HEIGHT, PEAK_BINS = 40, 2000


def _identity(p: Path) -> list | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


def _cached(cache_file: Path, key: list, make: Callable[[], Any]) -> Any:
    """``make()``'s JSON value, kept in ``cache_file`` for ``key`` (a file version)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        rec = json.loads(cache_file.read_text(encoding="utf-8"))
        if rec.get("key") == key:
            return rec["value"]
    value = make()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "value": value}), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError as exc:  # only costs the next view a recompute
        log.debug("could not cache %s: %s", cache_file, exc)
    return value


def shot_thumbnails(video: Path, shots: list[dict], cache_dir: Path) -> list[dict]:
    """A JPEG ``data:`` URI of each shot's middle frame: ``[{"start_sec", "end_sec", "src"}]`` (at most
    :data:`MAX_THUMBS`, evenly sampled), decoded in one forward pass over the picture."""
    key = _identity(video)
    if key is None or not shots:
        return []
    return _cached(cache_dir / "ui-thumbnails.json", [*key, len(shots)], lambda: _thumbnails(video, shots))


def _thumbnails(video: Path, shots: list[dict]) -> list[dict]:
    import av

    step = max(1, int(np.ceil(len(shots) / MAX_THUMBS)))
    chosen = shots[::step]
    wanted = {(s["start_frame"] + s["end_frame"]) // 2: s for s in chosen}
    out: list[dict] = []
    try:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            last = max(wanted)
            for n, frame in enumerate(c.decode(stream)):
                if n in wanted:
                    img = frame.to_image()
                    img.thumbnail((int(THUMB_HEIGHT * img.width / max(1, img.height)), THUMB_HEIGHT))
                    buf = io.BytesIO()
                    img.convert("RGB").save(buf, "JPEG", quality=70)
                    s = wanted[n]
                    out.append({"start_sec": s["start_sec"], "end_sec": s["end_sec"],
                                "src": "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()})
                if n >= last:
                    break
    except (av.FFmpegError, OSError) as exc:
        log.warning("thumbnails of %s: %s", video.name, exc)
    return out


def waveform_peaks(path: Path, duration_sec: float, cache_dir: Path, name: str) -> list[float]:
    """Peak level (0..1) of ``path``'s audio (a video's production audio or a WAV) in :data:`PEAK_BINS`
    bins over ``duration_sec``; ``[]`` without audio."""
    key = _identity(path)
    if key is None:
        return []
    return _cached(cache_dir / f"ui-wave-{name}.json", key, lambda: _peaks(path, duration_sec))


def _peaks(path: Path, duration_sec: float) -> list[float]:
    import av

    sr = 4000
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return []
            res = av.AudioResampler(format="flt", layout="mono", rate=sr)
            for frame in c.decode(c.streams.audio[0]):
                for f in res.resample(frame):
                    chunks.append(f.to_ndarray().reshape(-1))
    except (av.FFmpegError, OSError) as exc:
        log.warning("waveform of %s: %s", path.name, exc)
        return []
    x = np.abs(np.concatenate(chunks)) if chunks else np.zeros(0, np.float32)
    n = max(1, int(round(duration_sec * sr)))
    x = np.pad(x[:n], (0, max(0, n - len(x))))
    edges = np.linspace(0, n, PEAK_BINS + 1).astype(int)
    peaks = np.maximum.reduceat(x, edges[:-1]) if n >= PEAK_BINS else np.zeros(PEAK_BINS)
    return [round(float(p), 3) for p in np.clip(peaks, 0.0, 1.0)]
