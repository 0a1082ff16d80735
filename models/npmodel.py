"""Inference of the music transformer in plain numpy (no torch import at compose time).

The same trained weights (``generator.safetensors``, read with ``safetensors.numpy``) and the
same arithmetic as :class:`~tempscore.models.transformer.MusicTransformer` in eval mode: pre-norm
blocks, learned positions, exact (erf) GELU, a key/value cache. Sampling one token at a time is
dominated by per-call overhead, so numpy on small matrices is as fast as torch here and saves
the 1-2 s of importing torch; the torch model stays for training and int8. ``tests/test_generator``
checks that both give the same logits.
"""

from __future__ import annotations

import math

import numpy as np

# erf by Abramowitz & Stegun 7.1.26 (odd extension): max absolute error 1.5e-7, far below the
# float32 resolution of the activations; avoids importing scipy for one function.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, max absolute error 1.5e-7 (Abramowitz & Stegun 7.1.26)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + _P * a)
    y = 1.0 - (((((_A[4] * t + _A[3]) * t) + _A[2]) * t + _A[1]) * t + _A[0]) * t * np.exp(-a * a)
    return s * y


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x * Phi(x)`` (torch's default ``F.gelu``)."""
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyTransformer:
    """Forward passes of the trained model with a preallocated key/value cache.

    Parameters
    ----------
    state : dict of str -> np.ndarray
        The checkpoint's tensors (names as in the torch module).
    config : dict
        ``vocab_size``, ``d_model``, ``n_layer``, ``n_head``, ``ctx``.
    """

    def __init__(self, state: dict[str, np.ndarray], config: dict) -> None:
        self.d = int(config["d_model"])
        self.n_layer = int(config["n_layer"])
        self.n_head = int(config["n_head"])
        self.ctx = int(config["ctx"])
        f32 = np.float32
        self.tok = np.ascontiguousarray(state["tok.weight"], f32)
        self.pos = np.ascontiguousarray(state["pos.weight"], f32)
        self.layers = []
        for i in range(self.n_layer):
            def g(n: str, i: int = i) -> np.ndarray:
                return np.ascontiguousarray(state[f"blocks.{i}.{n}"], f32)

            self.layers.append({
                "ln1": (g("ln1.weight"), g("ln1.bias")), "ln2": (g("ln2.weight"), g("ln2.bias")),
                "qkv": (np.ascontiguousarray(g("qkv.weight").T), g("qkv.bias")),
                "proj": (np.ascontiguousarray(g("proj.weight").T), g("proj.bias")),
                "fc": (np.ascontiguousarray(g("fc.weight").T), g("fc.bias")),
                "out": (np.ascontiguousarray(g("out.weight").T), g("out.bias")),
            })
        self.ln_f = (np.ascontiguousarray(state["ln_f.weight"], f32), np.ascontiguousarray(state["ln_f.bias"], f32))
        self.head = np.ascontiguousarray(state["head.weight"].T, f32)
        self._k: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self.length = 0

    def reset(self, batch: int) -> None:
        """Empty the cache for ``batch`` sequences."""
        dh = self.d // self.n_head
        shape = (self.n_layer, batch, self.n_head, self.ctx, dh)
        self._k = np.zeros(shape, np.float32)
        self._v = np.zeros(shape, np.float32)
        self.length = 0

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """Logits for new tokens, appended after what the cache holds.

        Parameters
        ----------
        idx : np.ndarray, shape (batch, time), int
            Token ids; ``length + time`` must not exceed ``ctx`` (call :meth:`reset` to start over).

        Returns
        -------
        np.ndarray, shape (batch, time, vocab_size), float32
        """
        idx = np.asarray(idx)
        b, t = idx.shape
        if self._k is None or self._k.shape[1] != b:
            self.reset(b)
        p0 = self.length
        if p0 + t > self.ctx:
            raise ValueError(f"context overflow: {p0} + {t} > {self.ctx}")
        if b == 1 and t == 1:
            return self._step(int(idx[0, 0]))[None, None]
        h, dh = self.n_head, self.d // self.n_head
        x = self.tok[idx] + self.pos[p0 : p0 + t][None]
        scale = np.float32(1.0 / math.sqrt(dh))
        n = p0 + t
        mask = None
        if t > 1:  # causal within the new tokens; everything cached is visible
            mask = np.triu(np.ones((t, n), bool), k=p0 + 1)
        for li, L in enumerate(self.layers):
            y = layer_norm(x, *L["ln1"])
            qkv = y @ L["qkv"][0] + L["qkv"][1]
            q, k, v = np.split(qkv, 3, axis=-1)
            q = q.reshape(b, t, h, dh).transpose(0, 2, 1, 3)
            self._k[li, :, :, p0:n] = k.reshape(b, t, h, dh).transpose(0, 2, 1, 3)
            self._v[li, :, :, p0:n] = v.reshape(b, t, h, dh).transpose(0, 2, 1, 3)
            kk, vv = self._k[li, :, :, :n], self._v[li, :, :, :n]
            att = (q @ kk.transpose(0, 1, 3, 2)) * scale  # (b, h, t, n)
            if mask is not None:
                att = np.where(mask, np.float32(-np.inf), att)
            att = att - att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            y = (att @ vv).transpose(0, 2, 1, 3).reshape(b, t, self.d)
            x = x + (y @ L["proj"][0] + L["proj"][1])
            y = gelu(layer_norm(x, *L["ln2"]) @ L["fc"][0] + L["fc"][1])
            x = x + (y @ L["out"][0] + L["out"][1])
        self.length = n
        return (layer_norm(x, *self.ln_f) @ self.head).astype(np.float32, copy=False)

    def _step(self, tok: int) -> np.ndarray:
        """:meth:`forward` of one token of one sequence, on vectors: the sampling loop's case.

        The same arithmetic with a third of the numpy calls (1-D layer norms by dot products,
        attention as two matrix-vector products per layer, in-place GELU): ~0.5 ms a token
        instead of ~0.9 ms on the shipped model. Returns the logits, shape ``(vocab_size,)``.
        """
        d, h = self.d, self.n_head
        dh = d // h
        p0 = self.length
        n = p0 + 1
        scale = np.float32(1.0 / math.sqrt(dh))
        x = self.tok[tok] + self.pos[p0]
        for li, L in enumerate(self.layers):
            qkv = _ln1(x, *L["ln1"]) @ L["qkv"][0]
            qkv += L["qkv"][1]
            q = qkv[:d].reshape(h, dh)
            self._k[li, 0, :, p0] = qkv[d : 2 * d].reshape(h, dh)
            self._v[li, 0, :, p0] = qkv[2 * d :].reshape(h, dh)
            att = np.matmul(self._k[li, 0, :, :n], q[:, :, None])[:, :, 0]  # (h, n)
            att *= scale
            att -= att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            y = np.matmul(att[:, None, :], self._v[li, 0, :, :n])[:, 0, :].reshape(d)  # (h, dh) -> (d,)
            y = y @ L["proj"][0]
            y += L["proj"][1]
            x = x + y
            y = _ln1(x, *L["ln2"]) @ L["fc"][0]
            y += L["fc"][1]
            y = _gelu_(y) @ L["out"][0]
            y += L["out"][1]
            x = x + y
        self.length = n
        return (_ln1(x, *self.ln_f) @ self.head).astype(np.float32, copy=False)


def _ln1(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """:func:`layer_norm` of a vector (mean and variance by dot products)."""
    inv = np.float32(1.0 / x.shape[0])
    xc = x - np.float32(x.sum() * inv)
    xc *= np.float32(1.0 / math.sqrt(float(xc @ xc) * inv + eps))
    xc *= w
    xc += b
    return xc


def _gelu_(x: np.ndarray) -> np.ndarray:
    """:func:`gelu` in place (``x`` is overwritten and returned): ``Phi(x) = 1 - q/2`` for ``x >= 0``
    and ``q/2`` below, with ``q = 1 - erf(|x|/sqrt 2)`` by the same Abramowitz & Stegun formula."""
    a = np.abs(x)
    a *= np.float32(1.0 / math.sqrt(2.0))
    t = 1.0 / (1.0 + _P * a)
    q = ((((_A[4] * t + _A[3]) * t + _A[2]) * t + _A[1]) * t + _A[0]) * t
    a *= a
    np.negative(a, out=a)
    np.exp(a, out=a)
    q *= a
    q *= 0.5
    x *= np.where(x >= 0, 1.0 - q, q)
    return x
