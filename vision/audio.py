"""Production audio: decode once to mono, level curve and integrated loudness."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..contracts import AudioFeatures
from ..media import ff_path, production_bed_streams

log = logging.getLogger(__name__)

SILENCE_DB = -90.0


class _AlignedSum:
    """Sums decoded chunks of several audio streams, each placed by its own start time.

    Stream ``i``'s sample 0 lands at ``shifts[i]`` (negative: its first samples are dropped).
    Samples from ``taken`` on are held until :meth:`take` hands them out; a position is final once
    every stream still decoding has passed it (:meth:`ready`).
    """

    def __init__(self, shifts: list[int], channels: int, *, capacity: int = 0,
                 alloc: Callable[[tuple[int, int]], np.ndarray] | None = None) -> None:
        self.pos = list(shifts)
        self.done = [False] * len(shifts)
        self.taken = 0
        self.offset_sec = 0.0
        shape = (max(0, capacity), channels)
        self.buf = alloc(shape) if alloc is not None else np.zeros(shape, np.float32)
        if self.buf.dtype != np.float32 or self.buf.shape != shape:
            raise ValueError(f"alloc gave {self.buf.dtype} {self.buf.shape}, not float32 {shape}")

    def add(self, i: int, x: np.ndarray) -> None:
        start, self.pos[i] = self.pos[i], self.pos[i] + len(x)
        if self.pos[i] <= self.taken:
            return
        if start < self.taken:
            x, start = x[self.taken - start:], self.taken
        need = self.pos[i] - self.taken
        if need > len(self.buf):
            grown = np.zeros((max(need, 2 * len(self.buf)), self.buf.shape[1]), np.float32)
            grown[: len(self.buf)] = self.buf
            self.buf = grown
        self.buf[start - self.taken: self.pos[i] - self.taken] += x

    def ready(self) -> int:
        """Samples past ``taken`` that no stream will add to any more."""
        live = [p for p, d in zip(self.pos, self.done) if not d]
        end = min(live) if live else max([*self.pos, self.taken])
        return max(0, end - self.taken)

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` final samples (fewer when fewer are :meth:`ready`), shape ``(n, channels)``."""
        n = min(n, self.ready())
        out, self.buf = self.buf[:n], self.buf[n:]  # views: the taken part is never written again
        self.taken += n
        return out


@dataclass
class AudioCopy:
    """A second rendition of the production audio, made from the frames the analysis decodes (no
    second decode): the whole file at ``sr``, mono or stereo, as :func:`read_audio` would return
    it, sample for sample (each rendition has its own resampler fed the same frames). ``alloc``
    gives its buffer (float32 zeros, e.g. a cache entry mapped from a file); ``result`` is
    ``(samples, offset_sec)`` once the whole file was decoded, else None."""

    sr: int
    stereo: bool = True
    alloc: Callable[[tuple[int, int]], np.ndarray] | None = None
    result: tuple[np.ndarray, float] | None = None


class _Rendition:
    """One resampled sum of the bed's streams (:func:`_decode_bed`)."""

    def __init__(self, container, bed: list, v_start: float, *, sr: int, layout: str, whole: bool,  # noqa: ANN001
                 alloc: Callable[[tuple[int, int]], np.ndarray] | None) -> None:
        import av

        offsets = [(float(a.start_time * Fraction(a.time_base)) if a.start_time is not None else 0.0) - v_start
                   for a in bed]
        shifts = [int(round(o * sr)) for o in offsets]
        duration = float(container.duration or 0) / 1_000_000
        self.acc = _AlignedSum(shifts, 1 if layout == "mono" else 2,
                               capacity=int(duration * sr) + max(shifts) + sr if whole else 0,
                               alloc=alloc if whole else None)
        self.acc.offset_sec = min(offsets)
        self.resamplers = [av.AudioResampler(format="flt", layout=layout, rate=sr) for _ in bed]

    def put(self, i: int, frame) -> None:  # noqa: ANN001 - av.AudioFrame or None (flush)
        for out in self.resamplers[i].resample(frame):
            self.acc.add(i, out.to_ndarray().reshape(-1, self.acc.buf.shape[1]))


def _decode_bed(path: Path, *, sr: int, layout: str, whole: bool = False,
                alloc: Callable[[tuple[int, int]], np.ndarray] | None = None,
                copy: AudioCopy | None = None) -> Iterator[tuple[_AlignedSum, bool]]:
    """Decode the production audio (:func:`tempscore.media.production_bed_streams`: one stream, or
    an editor's mono tracks summed), resampled to ``sr`` and ``layout``, aligned to the first video
    frame. Yields the running sum after each demuxed packet (``False``) and once at the end
    (``True``); nothing when the file has no audio of its own. ``whole``: room for the whole file
    is made at once (no copies as it grows), by ``alloc(shape)`` when given (float32 zeros).
    ``copy``: a second rendition made from the same decoded frames, its ``result`` set at the end."""
    import av

    with av.open(ff_path(path)) as container:
        bed = production_bed_streams(container)
        if not bed:
            return
        v = container.streams.video[0] if container.streams.video else None
        v_start = float(v.start_time * Fraction(v.time_base)) if v is not None and v.start_time is not None else 0.0
        main = _Rendition(container, bed, v_start, sr=sr, layout=layout, whole=whole, alloc=alloc)
        sums = [main] if copy is None else [main, _Rendition(
            container, bed, v_start, sr=copy.sr, layout="stereo" if copy.stereo else "mono", whole=True,
            alloc=copy.alloc)]
        acc = main.acc
        which = {a.index: i for i, a in enumerate(bed)}
        try:
            for packet in container.demux(*bed):
                i = which[packet.stream.index]
                for frame in packet.decode():
                    for r in sums:
                        r.put(i, frame)
                if packet.size == 0 and packet.dts is None:  # the stream's flush packet: it has ended
                    for r in sums:
                        r.put(i, None)
                        r.acc.done[i] = True
                yield acc, False
        except av.error.FFmpegError as exc:
            log.warning("%s: audio decoding stopped early (%s)", path, exc)
        for r in sums:
            for i in range(len(bed)):
                if not r.acc.done[i]:
                    r.put(i, None)
                    r.acc.done[i] = True
        if copy is not None:
            other = sums[1].acc
            data = other.take(other.ready())
            copy.result = (data if copy.stereo else data.reshape(-1)), other.offset_sec
        yield acc, True


def read_audio(path: Path, *, sr: int = 16000, mono: bool = True,
               alloc: Callable[[tuple[int, int]], np.ndarray] | None = None) -> tuple[np.ndarray, float] | None:
    """Decode the production audio, resampled, aligned to the first video frame.

    The production audio is the file's audio stream, or the sum of an editor's mono tracks (one
    stream each: dialogue, effects, ...); see :func:`tempscore.media.production_bed_streams`.

    Parameters
    ----------
    path : Path
        Media file.
    sr : int
        Output sample rate in Hz.
    mono : bool
        Down-mix to one channel (else stereo).
    alloc : callable, optional
        ``alloc((n, channels))`` gives the float32 zeros the whole file is decoded into (e.g.
        :meth:`tempscore.render.spill.Spill.zeros`: file-backed for a feature's length).

    Returns
    -------
    (samples, offset_sec) or None
        ``samples`` is float32, shape ``(n,)`` for mono or ``(n, 2)`` for stereo. The audio is
        shifted so that sample 0 plays with the first video frame (``offset_sec`` is how much
        later the audio started). ``None`` when the file has no audio of its own (a scored video's
        temp-score tracks do not count).
    """
    acc = None
    for acc, _ in _decode_bed(path, sr=sr, layout="mono" if mono else "stereo", whole=True, alloc=alloc):  # noqa: B007 - the last
        pass
    if acc is None:
        return None
    data = acc.take(acc.ready())
    return (data.reshape(-1) if mono else data), acc.offset_sec


def level_curve_db(samples: np.ndarray, *, sr: int, rate_hz: float = 10.0) -> np.ndarray:
    """RMS level in dBFS on a regular grid of ``rate_hz`` values per second.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio.
    sr : int
        Sample rate, Hz.
    rate_hz : float
        Output rate; value ``k`` covers ``[k / rate_hz, (k + 1) / rate_hz)``.

    Returns
    -------
    np.ndarray, shape (ceil(n / sr * rate_hz),)
    """
    hop = int(round(sr / rate_hz))
    n = int(np.ceil(len(samples) / hop)) if len(samples) else 0
    padded = np.zeros(n * hop, np.float32)
    padded[: len(samples)] = samples
    rms = np.sqrt(np.mean(padded.reshape(n, hop) ** 2, axis=1) + 1e-12)
    return np.maximum(20 * np.log10(rms), SILENCE_DB)


def iter_audio_blocks(path: Path, *, sr: int = 16000, block_sec: float = 10.0,
                      copy: AudioCopy | None = None) -> Iterator[np.ndarray]:
    """Stream the production audio as mono float32 blocks, aligned to the first video frame.

    Parameters
    ----------
    path : Path
        Media file with at least one audio stream.
    sr : int
        Output sample rate, Hz.
    block_sec : float
        Block length in seconds (the last block is shorter). Memory stays at a few blocks
        whatever the length of the file.
    copy : AudioCopy, optional
        Also make this rendition of the whole file from the same decoded frames (its ``result``
        is set once the last block has been yielded).

    Yields
    ------
    np.ndarray, shape (n,), float32
        Consecutive samples of the production audio (one stream, or an editor's mono tracks
        summed) as :func:`read_audio` reads it; sample 0 plays with the first video frame (a late
        audio start is padded with silence, an early one trimmed).
    """
    block = max(1, int(round(block_sec * sr)))
    for acc, final in _decode_bed(path, sr=sr, layout="mono", copy=copy):
        while acc.ready() >= block:
            yield acc.take(block).reshape(-1)
        if final and acc.ready():
            yield acc.take(acc.ready()).reshape(-1)


class StreamingLoudness:
    """Integrated loudness (ITU-R BS.1770-4, as pyloudnorm computes it) from streamed mono blocks.

    The K-weighting filters (pyloudnorm's coefficients, :func:`~tempscore.dsp.k_weighting_sos`)
    run with carried state; only the mean square of each 100 ms step is kept (36,000 floats for an
    hour), so memory does not grow with the samples. Plain numpy: importing pyloudnorm (and with it
    scipy.signal) would cost ~0.5 s of every analysis.
    """

    def __init__(self, sr: int) -> None:
        from ..dsp import StreamingSosFilter, k_weighting_sos

        self.sr = sr
        self._filter = StreamingSosFilter(k_weighting_sos(sr)[0])
        self._step = int(round(0.1 * sr))
        self._rest = np.zeros(0, np.float64)
        self._ms: list[float] = []

    def add(self, x: np.ndarray) -> None:
        y = self._filter(x)
        y = np.concatenate([self._rest, y])
        n = len(y) // self._step
        if n:
            self._ms.extend(np.mean(y[: n * self._step].reshape(n, self._step) ** 2, axis=1).tolist())
        self._rest = y[n * self._step:]

    def integrated(self) -> float | None:
        """Gated integrated loudness in LUFS; ``None`` when shorter than one 400 ms block or silent."""
        ms = np.asarray(self._ms)
        if len(ms) < 4:
            return None
        blocks = np.convolve(ms, np.ones(4) / 4, mode="valid")  # 400 ms blocks, 75 % overlap
        with np.errstate(divide="ignore"):
            lk = -0.691 + 10 * np.log10(blocks)
        g = blocks[lk >= -70.0]
        if not len(g):
            return None
        rel = -0.691 + 10 * np.log10(g.mean()) - 10.0
        g = blocks[(lk >= -70.0) & (lk >= rel)]
        if not len(g):
            return None
        return float(-0.691 + 10 * np.log10(g.mean()))


#: Onset detection: hop (s) of the log-energy envelope, rise (dB) over the recent floor that
#: counts as a transient, and the level (dBFS) under which nothing counts.
ONSET_HOP_SEC = 0.005
ONSET_RISE_DB = 15.0
ONSET_MIN_DB = -45.0
ONSET_FLOOR_SEC = 0.15
ONSET_REFRACTORY_SEC = 0.1


def audio_onsets(env_db: np.ndarray, *, hop_sec: float = ONSET_HOP_SEC) -> list[tuple[float, float]]:
    """Transients (door slams, gunshots, clicks) in a log-energy envelope.

    Parameters
    ----------
    env_db : np.ndarray
        RMS level in dBFS every ``hop_sec`` seconds.
    hop_sec : float
        Envelope hop, seconds.

    Returns
    -------
    list of (time_sec, strength)
        Onset time (start of the hop where the level jumps) and strength 0..1 (rise / 40 dB).
        An onset is a rise of at least ``ONSET_RISE_DB`` over the minimum of the preceding
        ``ONSET_FLOOR_SEC``, to a level above ``ONSET_MIN_DB``; one per ``ONSET_REFRACTORY_SEC``.
    """
    if len(env_db) < 3:
        return []
    w = max(1, int(round(ONSET_FLOOR_SEC / hop_sec)))
    # floor[i] = min(env[i-w .. i-1]), the first value standing in before the start
    floor = np.empty_like(env_db)
    floor[0] = env_db[0]
    padded = np.concatenate([np.full(w - 1, env_db[0]), env_db])
    m = np.lib.stride_tricks.sliding_window_view(padded, w).min(axis=1)  # min(env[i-w+1 .. i])
    floor[1:] = m[:-1]
    rise = env_db - floor
    cand = np.flatnonzero((rise >= ONSET_RISE_DB) & (env_db >= ONSET_MIN_DB))
    out: list[tuple[float, float]] = []
    last = -1e9
    refr = ONSET_REFRACTORY_SEC / hop_sec
    for i in cand:
        if i - last < refr:
            continue
        last = i
        out.append((round(float(i * hop_sec), 4), round(float(min(1.0, rise[i] / 40.0)), 3)))
    return out


#: The Silero VAD export that takes a whole sequence of chunks per call (LSTM state carried inside).
SILERO_SEQUENCE_ONNX = "silero_vad_16k_sequence.onnx"


def silero_model_path(name: str = SILERO_SEQUENCE_ONNX) -> Path:
    """Path of an ONNX model inside the installed ``silero-vad`` wheel, found without importing it.

    ``silero_vad/__init__.py`` imports torch; locating the package with :func:`importlib.util.find_spec`
    does not execute it.

    Raises
    ------
    ToolMissing
        When the package or the model file is not installed.
    """
    import importlib.util

    from ..errors import ToolMissing

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("dialogue detection needs the silero-vad package: pip install silero-vad onnxruntime, "
                          "or analyse with --no-dialogue")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise ToolMissing(f"silero-vad is installed without {name}: reinstall silero-vad==6.2.3, "
                          f"or analyse with --no-dialogue")
    return path


class SpeechDetector:
    """Voice activity with Silero VAD (MIT; the model ships inside the ``silero-vad`` wheel).

    Runs the wheel's ONNX *sequence* export with onnxruntime, so torch is never imported: each
    fed block is cut into 32 ms chunks (512 samples at 16 kHz, each preceded by the 64 samples
    before it, as the streaming model expects) and goes through the network in one call, with the
    LSTM state and the context carried from block to block. The probabilities equal Silero's
    own streaming model on the whole file, whatever the block sizes (tests check both), at about
    650x real time on one core. Probabilities become regions with hysteresis (on at 0.5, off under
    0.35), gaps under 0.3 s closed, regions under 0.25 s dropped (Silero's own defaults, except
    the gap, which keeps one line of dialogue one region).

    Parameters
    ----------
    model_path : path-like, optional
        The sequence ONNX model (default: the one in the installed ``silero-vad``).
    threads : int
        onnxruntime intra-op threads (1: the decoder has the other cores).
    """

    SR = 16000
    CHUNK = 512
    CONTEXT = 64
    #: chunks per onnxruntime call (bounds the transient memory: 512 chunks = 16.4 s)
    MAX_CHUNKS = 512

    def __init__(self, *, model_path: str | Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # the export carries unused initialisers; onnxruntime warns about each
        path = Path(model_path) if model_path is not None else silero_model_path()
        self._session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(self.CONTEXT, np.float32)
        self._rest = np.zeros(0, np.float32)  # samples short of a whole chunk, carried to the next block
        self._probs: list[np.ndarray] = []
        self._finished = False

    def _run(self, x: np.ndarray) -> None:
        c, k = self.CHUNK, self.CONTEXT
        n = len(x) // c
        if not n:
            return
        frames = x[: n * c].reshape(n, c)
        ctx = np.empty((n, k), np.float32)
        ctx[0] = self._context
        ctx[1:] = frames[:-1, -k:]
        inp = np.concatenate([ctx, frames], axis=1)
        for i in range(0, n, self.MAX_CHUNKS):
            p, self._h, self._c = self._session.run(None, {"input": inp[i:i + self.MAX_CHUNKS], "h": self._h, "c": self._c})
            self._probs.append(np.asarray(p, np.float32).reshape(-1))
        self._context = frames[-1, -k:].copy()

    def add(self, x: np.ndarray) -> None:
        """Feed the next samples (16 kHz mono float32, any length)."""
        if self._finished:
            raise RuntimeError("SpeechDetector.add after finish()")
        x = np.concatenate([self._rest, np.asarray(x, np.float32).reshape(-1)])
        whole = len(x) - len(x) % self.CHUNK
        self._run(x[:whole])
        self._rest = x[whole:].copy()

    def finish(self) -> None:
        """Run the last partial chunk, zero-padded (as Silero does); further :meth:`add` calls are errors."""
        if not self._finished and len(self._rest):
            self._run(np.concatenate([self._rest, np.zeros(self.CHUNK - len(self._rest), np.float32)]))
            self._rest = np.zeros(0, np.float32)
        self._finished = True

    @property
    def probabilities(self) -> np.ndarray:
        """Speech probability per 32 ms chunk so far, shape ``(chunks,)``."""
        return np.concatenate(self._probs) if self._probs else np.zeros(0, np.float32)

    def regions(self, *, on: float = 0.5, off: float = 0.35, min_gap_sec: float = 0.3,
                min_speech_sec: float = 0.25) -> list[dict[str, float]]:
        """Speech regions ``{"start_sec", "end_sec"}`` relative to the first video frame."""
        p = self.probabilities
        dt = self.CHUNK / self.SR
        spans: list[list[float]] = []
        active = False
        for i, v in enumerate(p):
            if not active and v >= on:
                active = True
                spans.append([i * dt, (i + 1) * dt])
            elif active:
                if v < off:
                    active = False
                else:
                    spans[-1][1] = (i + 1) * dt
        merged: list[list[float]] = []
        for s in spans:
            if merged and s[0] - merged[-1][1] < min_gap_sec:
                merged[-1][1] = s[1]
            else:
                merged.append(s)
        return [{"start_sec": round(a, 3), "end_sec": round(b, 3)} for a, b in merged if b - a >= min_speech_sec]


class AudioAnalysisStopped(Exception):
    """:func:`analyze_audio` was asked to stop (the picture pass failed or was interrupted)."""


def analyze_audio(path: Path, *, rate_hz: float = 10.0, sr: int = 16000, speech: bool = True,
                  stop=None, copy: AudioCopy | None = None) -> AudioFeatures:  # noqa: ANN001 - threading.Event
    """Level curve, integrated loudness, transients and speech regions of the production audio, streamed.

    Parameters
    ----------
    path : Path
        Media file.
    rate_hz : float
        Rate of the level curve, values per second.
    sr : int
        Analysis sample rate, Hz (16 kHz: what the voice activity detector expects).
    speech : bool
        Run the voice activity detector (Silero VAD).
    stop : threading.Event, optional
        Checked between blocks (when run beside the picture pass): once set,
        :class:`AudioAnalysisStopped` is raised, so Ctrl+C does not wait for a whole film's audio.
    copy : AudioCopy, optional
        A second rendition of the production audio made from the frames decoded here (e.g. the
        render's 48 kHz stereo, :func:`read_audio`'s samples exactly), its ``result`` set at the end.

    Returns
    -------
    AudioFeatures
        ``onsets`` are ``{"time_sec", "strength"}``; ``speech`` regions ``{"start_sec", "end_sec"}``,
        all relative to the first video frame. Memory is bounded by the block size, not the file.
    """
    hop = int(round(sr / rate_hz))
    ohop = int(round(sr * ONSET_HOP_SEC))
    loud = StreamingLoudness(sr)
    vad = SpeechDetector() if speech and sr == SpeechDetector.SR else None
    curve: list[np.ndarray] = []
    env: list[np.ndarray] = []
    rest = np.zeros(0, np.float32)
    total = 0
    # 10.24 s blocks: a whole number of VAD chunks (512 samples at 16 kHz)
    for blk in iter_audio_blocks(path, sr=sr, block_sec=320 * SpeechDetector.CHUNK / sr, copy=copy):
        if stop is not None and stop.is_set():
            raise AudioAnalysisStopped(str(path))
        total += len(blk)
        loud.add(blk)
        if vad is not None:
            vad.add(blk)
        y = np.concatenate([rest, blk])
        n = len(y) // hop
        curve.append(level_curve_db(y[: n * hop], sr=sr, rate_hz=rate_hz))
        m = (n * hop) // ohop
        seg = y[: m * ohop].reshape(m, ohop)
        env.append(np.maximum(10 * np.log10(np.mean(seg.astype(np.float64) ** 2, axis=1) + 1e-12), SILENCE_DB))
        rest = y[n * hop:]
    if total == 0:
        return AudioFeatures(present=False, rate_hz=rate_hz)
    if len(rest):
        curve.append(level_curve_db(rest, sr=sr, rate_hz=rate_hz))
    if vad is not None:
        vad.finish()
    lufs = loud.integrated() if total > sr // 2 else None
    onsets = audio_onsets(np.concatenate(env)) if env else []
    return AudioFeatures(present=True, rate_hz=rate_hz, loudness_db=[round(float(x), 2) for x in np.concatenate(curve)],
                         integrated_lufs=None if lufs is None or not np.isfinite(lufs) else round(lufs, 2),
                         onsets=[{"time_sec": t, "strength": v} for t, v in onsets],
                         speech=vad.regions() if vad is not None else [])
