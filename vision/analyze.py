"""``analyze(video) -> Analysis``: probe, one decode pass, shots, features, audio, emotion."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..contracts import Analysis, AudioFeatures, Shot
from ..errors import VideoOpenFailure
from ..threads import ONE_BLAS_THREAD, ONE_OPENCV_THREAD
from .accents import find_accents, transient_events
from .audio import AudioCopy, analyze_audio
from .decode import iter_frames_ahead
from .emotion import heuristic_emotion, mood_label
from .features import PictureFeatures
from .probe import check_duration, probe
from .shots import ShotDetector, resolve_method, shots_from_cuts

if TYPE_CHECKING:
    from ..contracts import FrameFeatures, VideoInfo
    from .clip_emotion import ClipEmotion

log = logging.getLogger(__name__)

#: How the picture is measured; part of the analysis cache's key, so an analysis measured the old
#: way is made again (2: motion and accents per second of picture, not per frame).
MEASURES = 2

#: ``progress(done_frames, total_frames)``; total is the probe's estimate.
ProgressFn = Callable[[int, int], None]


@dataclass
class AnalyzeSettings:
    """Knobs of the analysis stage."""

    analysis_width: int = 320
    #: PySceneDetect AdaptiveDetector (hard cuts): ratio to the neighbours' content change, minimum change
    adaptive_threshold: float = 3.0
    min_content_val: float = 15.0
    min_shot_sec: float = 0.25
    fade_threshold: float = 12.0
    audio_rate_hz: float = 10.0
    #: CLIP emotion: "auto" (when weights are local), "off"; model/pretrained tag, checkpoint file, download allowed
    clip: str = "auto"
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_checkpoint: str | None = None
    allow_download: bool = False
    #: keyframes embedded per second of picture (at least one per shot: the nearest is used)
    clip_keyframes_per_sec: float = 1.0
    #: shot detector: "auto" (classic on CPU, combined with a CUDA GPU), "classic", "transnet", "combined"
    shot_detector: str = "auto"
    #: device for TransNetV2: "auto", "cpu", "cuda"
    device: str = "auto"
    #: find dialogue in the production audio (Silero VAD) so music can duck under it
    dialogue: bool = True


def analyze(
    video: str | Path,
    *,
    settings: AnalyzeSettings | None = None,
    progress: ProgressFn | None = None,
    clip_model: object | None = None,
    fingerprint_out: list | None = None,
    audio_copy: AudioCopy | None = None,
) -> Analysis:
    """Analyse a video in a single decode pass.

    Parameters
    ----------
    video : path-like
        The rough cut.
    settings : AnalyzeSettings, optional
    progress : callable, optional
        Called as ``progress(done_frames, total_frames)`` every few frames.
    clip_model : ClipEmotion, optional
        An already loaded model (tests inject a tiny random one); else loaded per ``settings``.
    fingerprint_out : list, optional
        Receives the picture fingerprint, shape (n_frames, cells), uint8 (see
        :attr:`~tempscore.vision.features.PictureFeatures.fingerprint`): what a recut is matched by.
    audio_copy : AudioCopy, optional
        Another rendition of the production audio to make from the frames the audio analysis
        decodes (:class:`~tempscore.vision.audio.AudioCopy`: e.g. what the render mixes under the
        score), so that the file's sound is decoded once.

    Returns
    -------
    Analysis
        Cuts, shots with features and a valence/arousal reading each, per-frame picture
        features and the production-audio level curve. ``emotion_source`` is ``"heuristic"``.

    Raises
    ------
    InputNotFound, VideoOpenFailure, NoVideoStream
    """
    s = settings or AnalyzeSettings()
    path = Path(video)
    info = probe(path)
    fps = info.fps
    pictures = PictureFeatures(float(fps))
    detector = ShotDetector(fps, method=resolve_method(s.shot_detector), adaptive_threshold=s.adaptive_threshold,
                            min_content_val=s.min_content_val,
                            min_shot_sec=s.min_shot_sec, fade_threshold=s.fade_threshold, device=s.device)
    clip = clip_model
    if clip is None and s.clip != "off":
        from .clip_emotion import load_clip

        clip = load_clip(model=s.clip_model, pretrained=s.clip_pretrained, checkpoint=s.clip_checkpoint,
                         allow_download=s.allow_download)
    n, key_frames, emb, audio = _decode(path, s, info, pictures, detector, clip, progress, audio_copy)
    info.frame_count = n
    info.frame_count_exact = True
    if n:
        # Duration of the decoded picture: last frame's PTS plus one frame.
        info.duration_sec = round(float(pictures.pts_sec[-1]) + 1.0 / float(fps), 6)
    check_duration(path, n, info.duration_sec)
    # every picture measure is per second of picture (changes over ~1/25 s, whatever the rate)
    transients = transient_events(pictures.change, pictures.back, step=pictures.step)
    cuts = detector.finish(pictures.pts_sec, pictures.brightness, pictures.frame_change, transients)
    raw_motion = pictures.motion
    frames = pictures.finish([c.frame for c in cuts if c.kind == "hard"])
    if fingerprint_out is not None:
        fingerprint_out.append(pictures.fingerprint)
    accents = find_accents(pts_sec=pictures.pts_sec, motion=raw_motion, brightness=pictures.brightness,
                           change=pictures.change, back=pictures.back,
                           cut_frames=[c.frame for c in cuts if c.kind == "hard"],
                           gradual=[(c.frame, c.end_frame or c.frame + 1) for c in cuts if c.kind == "gradual"],
                           audio_onsets=audio.onsets, fps=float(fps), step=pictures.step)
    reader = _ShotReader(frames, audio, clip if emb is not None else None, np.asarray(key_frames), emb)
    shots = [reader.shot(start, end, frames.pts_sec[end] if end < n else info.duration_sec)
             for start, end in shots_from_cuts(cuts, n)]
    log.info("%s: %d frames, %d cuts, %d shots", path.name, n, len(cuts), len(shots))
    return Analysis(video=info, cuts=cuts, shots=shots, emotion_source=clip.source if emb is not None else "heuristic",
                    frames=frames, audio=audio, detectors=detector.names, tempscore_version=__version__,
                    accents=accents)


def _decode(path: Path, s: AnalyzeSettings, info: VideoInfo, pictures: PictureFeatures, detector: ShotDetector,
            clip: object | None, progress: ProgressFn | None,
            audio_copy: AudioCopy | None) -> tuple[int, list[int], np.ndarray | None, AudioFeatures]:
    """The picture pass with the production audio's analysis in a thread beside it."""
    # its work is in FFmpeg, numpy and onnxruntime, which release the GIL
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tempscore-audio")
    stop = threading.Event()  # set when the picture pass fails or is interrupted: the audio stops at its next block
    audio_job = (pool.submit(analyze_audio, path, rate_hz=s.audio_rate_hz, speech=s.dialogue, stop=stop,
                             copy=audio_copy) if info.audio_streams else None)
    try:
        with ONE_BLAS_THREAD, ONE_OPENCV_THREAD:  # small products and resizes: one thread each (tempscore.threads)
            n, key_frames, emb = _picture_pass(path, s, info, pictures, detector, clip, progress)
        audio = audio_job.result() if audio_job is not None else AudioFeatures(present=False, rate_hz=s.audio_rate_hz)
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return n, key_frames, emb, audio


class _ShotReader:
    """A shot's features and its valence/arousal: CLIP's reading of its keyframes, else the heuristic."""

    def __init__(self, frames: FrameFeatures, audio: AudioFeatures, clip: ClipEmotion | None,
                 key_frames: np.ndarray, emb: np.ndarray | None) -> None:
        self.frames, self.audio, self.clip, self.kf, self.emb = frames, audio, clip, key_frames, emb
        self.motion = np.asarray(frames.motion)
        self.bright = np.asarray(frames.brightness)
        self.sat = np.asarray(frames.saturation)
        self.warm = np.asarray(frames.warmth)
        self.level = np.asarray(audio.loudness_db)

    def loudness(self, t0: float, t1: float) -> float | None:
        audio = self.audio
        if not (audio.present and len(self.level)):
            return None
        a, b = int(t0 * audio.rate_hz), max(int(t0 * audio.rate_hz) + 1, int(np.ceil(t1 * audio.rate_hz)))
        seg = self.level[a:b]
        return round(float(seg.mean()), 2) if len(seg) else None

    def shot(self, start: int, end: int, t1: float) -> Shot:
        t0 = self.frames.pts_sec[start]
        loud = self.loudness(t0, t1)
        sl = slice(start, end)
        motion, bright = float(self.motion[sl].mean()), float(self.bright[sl].mean())
        sat, warm = float(self.sat[sl].mean()), float(self.warm[sl].mean())
        scores: dict[str, float] = {}
        if self.emb is not None and self.clip is not None and len(self.kf):
            inside = np.flatnonzero((self.kf >= start) & (self.kf < end))
            if not len(inside):  # a shot shorter than the keyframe spacing: the nearest keyframe
                inside = np.array([int(np.argmin(np.abs(self.kf - (start + end) // 2)))])
            v, ar, scores = self.clip.read(self.emb[inside])
        else:
            v, ar = heuristic_emotion(motion=motion, shot_sec=t1 - t0, brightness=bright, saturation=sat,
                                      warmth=warm, loudness_db=loud)
        return Shot(start_frame=start, end_frame=end, start_sec=round(t0, 6), end_sec=round(t1, 6),
                    valence=round(v, 4), arousal=round(ar, 4), motion=round(motion, 5),
                    brightness=round(bright, 4), saturation=round(sat, 4), warmth=round(warm, 4),
                    loudness_db=loud, emotion_label=mood_label(v, ar), emotion_scores=scores)


def _picture_pass(path: Path, s: AnalyzeSettings, info: VideoInfo, pictures: PictureFeatures,
                  detector: ShotDetector, clip: object | None,
                  progress: ProgressFn | None) -> tuple[int, list[int], np.ndarray | None]:
    """The single decode pass: every frame to the features, the shot detector and (every second) CLIP.

    Returns ``(frames decoded, keyframe indices, keyframe embeddings or None)``.
    """
    fps = info.fps
    every = max(1, int(round(float(fps))))
    key_every = max(1, int(round(float(fps) / max(s.clip_keyframes_per_sec, 1e-3))))
    key_frames: list[int] = []
    key_emb: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    n = 0
    for frame in iter_frames_ahead(path, target_width=s.analysis_width):
        pictures.add(frame.pts_sec, frame.bgr)
        detector.add(frame.index, frame.bgr)
        if clip is not None and frame.index % key_every == key_every // 2:
            key_frames.append(frame.index)
            batch.append(frame.bgr[:, :, ::-1].copy())
            if len(batch) == 32:
                key_emb.append(clip.embed(batch))
                batch = []
        n = frame.index + 1
        if progress is not None and n % every == 0:
            progress(n, max(info.frame_count, n))
    if progress is not None:
        progress(n, n)
    expected = info.frame_count
    if info.frame_count_exact and expected and n < 0.97 * expected - 2:
        raise VideoOpenFailure(f"{path}: only {n} of {expected} frames could be decoded; the file is damaged or "
                               f"truncated: re-export or re-copy it")
    if clip is not None and batch:
        key_emb.append(clip.embed(batch))
    return n, key_frames, (np.concatenate(key_emb) if key_emb else None)
