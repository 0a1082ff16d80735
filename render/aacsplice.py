"""Incremental AAC: re-encode only the stretches of a track that changed since its last encode.

A one-cue edit on a long film changes a few seconds of the music and of the mix; encoding the
whole programme again is most of a re-run (10 minutes of stereo: ~4.6 s per track on one core).
Each encode leaves, in the project's cache, the ``.m4a`` and a fingerprint of every 1024-sample
AAC frame of the audio it was made from. The next encode of the same track compares fingerprints,
encodes each changed stretch (plus a lead-in for the encoder's rate control and the MDCT's
overlap) and splices those packets between the old ones: AAC frames overlap by half a window, so
a packet from either encode decodes correctly next to its neighbour where their input is the same.
The tests decode a spliced track against a whole encode of the same audio: same length, no
offset, the same error against the input.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..media import ff_path

if TYPE_CHECKING:
    from av.packet import Packet

    from ..cache import StageCache

log = logging.getLogger(__name__)

#: Samples per AAC frame (the packet grid: packet ``j`` starts at sample ``(j - 1) * AAC_FRAME``).
AAC_FRAME = 1024
#: Packets encoded before a changed stretch and dropped (the encoder's rate control settles).
LEAD_IN_FRAMES = 16
#: Packets either side of a changed stretch that are replaced too (MDCT overlap, look-ahead).
GUARD_FRAMES = 2
#: Changed stretches closer than this are encoded as one.
MERGE_GAP_FRAMES = 64
#: Above this share of changed frames, the whole track is encoded (as fast, and simpler).
MAX_SPLICE_SHARE = 0.6


#: Random projections per frame in a fingerprint.
PROJECTIONS = 4
#: A frame counts as changed when its samples moved by more than this RMS (full scale = 1): -100
#: dBFS, far under the AAC coding noise, so rounding-level differences (a re-run's FFT reverb of a
#: stretch that did not change) keep their old packets.
CHANGE_RMS = 1e-5


def frame_fingerprints(audio: np.ndarray, *, frame: int = AAC_FRAME, chunk_frames: int = 4096) -> np.ndarray:
    """:data:`PROJECTIONS` numbers per ``frame`` samples of ``audio``: fixed random unit-norm
    projections of the frame's samples. For a change ``d`` of a frame, each projection moves by
    a normal variate whose deviation is the change's RMS per sample, so :func:`changed_spans` can
    tell a change from rounding without keeping the audio.

    Parameters
    ----------
    audio : np.ndarray, shape (n, channels), float32

    Returns
    -------
    np.ndarray, shape (ceil(n / frame), PROJECTIONS), float64
    """
    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    n, ch = x.shape
    nf = -(-n // frame)
    w = np.random.default_rng(0x7E5C0).standard_normal((frame * ch, PROJECTIONS))  # fixed: compared across runs
    w = (w / np.linalg.norm(w, axis=0)).astype(np.float32)  # float32 products: ~2e-7 off, far under the threshold
    out = np.empty((nf, PROJECTIONS), np.float64)
    full = n // frame
    for i in range(0, full, chunk_frames):
        j = min(full, i + chunk_frames)
        out[i:j] = x[i * frame : j * frame].reshape(j - i, frame * ch) @ w
    if nf > full:
        tail = np.zeros((frame, ch), np.float32)
        tail[: n - full * frame] = x[full * frame :]
        out[full] = tail.reshape(1, -1) @ w
    return out


def changed_spans(old: np.ndarray, new: np.ndarray, *, merge_gap: int = MERGE_GAP_FRAMES,
                  change_rms: float = CHANGE_RMS) -> list[tuple[int, int]]:
    """``[start, stop)`` frame ranges where two fingerprint arrays (same shape) differ by more
    than a change of ``change_rms`` RMS per sample is likely to (3 deviations), merged across
    gaps shorter than ``merge_gap`` frames. A frame changed by -60 dBFS RMS escapes all four
    projections with a chance of 3 in 10 million; a quieter one escaping inside a changed stretch
    is covered by the merge."""
    tol = 3.0 * change_rms
    idx = np.flatnonzero((np.abs(np.asarray(old) - np.asarray(new)) > tol).any(axis=1))
    spans: list[tuple[int, int]] = []
    for i in idx.tolist():
        if spans and i - spans[-1][1] < merge_gap:
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans


def _read_packets(m4a: Path) -> list[tuple[int, int, bytes]]:
    """``(pts, duration, data)`` of every packet (time base 1/sr)."""
    import av

    with av.open(ff_path(m4a)) as c:
        st = c.streams.audio[0]
        return [(int(p.pts), int(p.duration), bytes(p)) for p in c.demux(st) if p.size]


def _encode_span(x: np.ndarray, start_frame: int, stop_frame: int, *, sr: int, bit_rate: int,
                 stop: threading.Event) -> dict[int, tuple[int, int, bytes]]:
    """Encode ``x[start_frame * 1024 : stop_frame * 1024]`` with a fresh encoder; packets by their
    pts on the whole track's clock."""
    import av

    layout = "mono" if x.shape[1] == 1 else "stereo"
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate, cc.layout, cc.format, cc.bit_rate = sr, layout, "fltp", bit_rate
    cc.time_base = Fraction(1, sr)
    cc.options = {"aac_coder": "fast"}  # as the whole-track encode (aac.encode_array)
    cc.open()
    offset = start_frame * AAC_FRAME
    seg = x[offset : stop_frame * AAC_FRAME]
    out: dict[int, tuple[int, int, bytes]] = {}
    step = 1 << 15

    def take(packets: list[Packet]) -> None:
        for p in packets:
            out[int(p.pts) + offset] = (int(p.pts) + offset, int(p.duration), bytes(p))

    for i in range(0, len(seg), step):
        if stop.is_set():
            return out
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(seg[i : i + step].T), format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sr, i, cc.time_base
        take(cc.encode(frame))
    take(cc.encode(None))
    return out


def splice_packets(old: list[tuple[int, int, bytes]], x: np.ndarray, spans: list[tuple[int, int]], *, sr: int,
                   bit_rate: int, stop: threading.Event) -> list[tuple[int, int, bytes]] | None:
    """The old track's packets with those around each changed span replaced by a fresh encode of
    ``x``; None when the old packets are not on the expected grid (then encode it all)."""
    n_frames = -(-len(x) // AAC_FRAME)
    if len(old) != n_frames + 1 or any(pts != (j - 1) * AAC_FRAME for j, (pts, _, _) in enumerate(old)):
        return None
    out = list(old)
    for a, b in spans:  # packet j holds input frames j-1 and j (its MDCT window), and looks ahead
        lo, hi = max(0, a - GUARD_FRAMES + 1), b + GUARD_FRAMES
        to_end = hi + LEAD_IN_FRAMES // 4 >= n_frames
        first = max(0, lo - LEAD_IN_FRAMES)
        new = _encode_span(x, first, n_frames if to_end else hi + GUARD_FRAMES + 2, sr=sr, bit_rate=bit_rate,
                           stop=stop)
        if stop.is_set():
            return None
        for j in range(lo, len(old) if to_end else hi):
            got = new.get((j - 1) * AAC_FRAME)
            if got is None:
                return None
            out[j] = got
    return out


def write_packets(packets: list[tuple[int, int, bytes]], template: Path, dest: Path, *, sr: int) -> None:
    """Mux ``packets`` into ``dest`` (.m4a) with the stream parameters of ``template``."""
    import av

    tb = Fraction(1, sr)
    with av.open(ff_path(template)) as src, av.open(ff_path(dest), "w") as out:
        st = out.add_stream_from_template(src.streams.audio[0])
        for pts, dur, data in packets:
            p = av.Packet(data)
            p.pts = p.dts = pts
            p.duration, p.time_base, p.stream = dur, tb, st
            out.mux(p)


def encode_track(audio: np.ndarray, dest: Path, *, sr: int, bitrate: str, stop: threading.Event,
                 cache: StageCache | None = None, slot: str | None = None,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Encode ``audio`` ``(n, channels)`` to AAC in ``dest`` (.m4a): spliced into the previous
    encode of the same ``slot`` (e.g. ``"music"``) from ``cache`` where only parts changed, else
    whole; then this encode becomes the slot's previous one. ``progress(samples)``: as the
    track's samples are dealt with (encoded, or kept from the previous encode).

    Returns
    -------
    dict
        ``{"mode": "whole" | "spliced" | "unchanged", "frames_encoded": int, "frames": int}``
    """
    import shutil

    from .aac import encode_array

    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    rate = int(float(bitrate.rstrip("kK")) * 1000) if bitrate[-1:] in "kK" else int(bitrate)
    n_frames = -(-len(x) // AAC_FRAME)
    if cache is None or slot is None:
        encode_array(x, dest, sr=sr, bitrate=bitrate, stop=stop, progress=progress)
        return {"mode": "whole", "frames_encoded": n_frames, "frames": n_frames}
    import av

    slot_key = [slot, sr, rate, x.shape[1], len(x), av.__version__, PROJECTIONS, "f32"]
    fp = frame_fingerprints(x)
    old_fp, old_m4a = latest_made_from(cache, "aac", slot_key, ".m4a")
    mode, encoded = "whole", n_frames
    if old_m4a is not None and old_fp.shape == fp.shape:
        spans = changed_spans(old_fp, fp)
        share = sum(b - a for a, b in spans) / max(1, n_frames)
        if not spans:
            shutil.copyfile(old_m4a, dest)
            mode, encoded = "unchanged", 0
        elif share <= MAX_SPLICE_SHARE:
            try:
                packets = splice_packets(_read_packets(old_m4a), x, spans, sr=sr, bit_rate=rate, stop=stop)
            except (av.error.FFmpegError, OSError, ValueError) as exc:  # an unreadable entry: encode it all
                log.debug("splicing into %s failed (%s); encoding the whole track", old_m4a, exc)
                packets = None
            if stop.is_set():
                return {"mode": "stopped", "frames_encoded": 0, "frames": n_frames}
            if packets is not None:
                write_packets(packets, old_m4a, dest, sr=sr)
                mode = "spliced"
                encoded = sum(min(n_frames, b + GUARD_FRAMES) - max(0, a - GUARD_FRAMES + 1 - LEAD_IN_FRAMES)
                              for a, b in spans)
    if mode == "whole":
        encode_array(x, dest, sr=sr, bitrate=bitrate, stop=stop, progress=progress)
        if stop.is_set():
            return {"mode": "stopped", "frames_encoded": 0, "frames": n_frames}
    elif progress is not None:  # spliced or unchanged: the track is done
        progress(len(x))
    if mode != "unchanged":  # this encode is the slot's previous one from now on
        keep_latest(cache, "aac", slot_key, ".m4a", fp, Path(dest), previous_fp=old_fp)  # linked, not read
    log.debug("AAC %s track: %s, %d of %d frames encoded", slot, mode, encoded, n_frames)
    return {"mode": mode, "frames_encoded": int(encoded), "frames": n_frames}


def fp_digest(fp: np.ndarray) -> str:
    """Short hash of a fingerprint array (keys what was made from that audio)."""
    return hashlib.sha256(np.ascontiguousarray(fp, np.float64).tobytes()).hexdigest()[:32]


def latest_made_from(cache: StageCache, kind: str, key: object, ext: str) -> tuple[np.ndarray | None, Path | None]:
    """The latest ``kind`` entry for ``key`` (kept by :func:`keep_latest`): the fingerprints of the
    audio it was made from and its file; ``(None, None)`` when there is none."""
    fp = cache.get_array(f"{kind}-fp", key, count=False)
    path = cache.get_file(kind, [key, fp_digest(fp)], ext) if fp is not None else None
    return (np.asarray(fp), path) if path is not None else (None, None)


def keep_latest(cache: StageCache, kind: str, key: object, ext: str, fp: np.ndarray, data: bytes | Path, *,
                previous_fp: np.ndarray | None = None) -> None:
    """Make ``data`` (bytes, or a file's content: linked, not read; made from audio with
    fingerprints ``fp``) the latest ``kind`` entry for ``key``: the entry first, then the
    fingerprints that name it (an interrupted write leaves the previous pair whole); the
    superseded entry is removed, so a slot keeps one."""
    cache.put_file(kind, [key, fp_digest(fp)], ext, data)
    cache.put_array(f"{kind}-fp", key, fp)
    if previous_fp is not None and fp_digest(previous_fp) != fp_digest(fp):
        cache.discard(kind, [key, fp_digest(previous_fp)], ext)
