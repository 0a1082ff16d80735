"""Sampling from the trained generator: conditioning per bar, grammar-constrained, KV cache.

``Generator.load()`` reads ``models/generator.safetensors`` (safetensors: no pickle, nothing
executed) and its ``.json`` (config + vocabulary, checked against :data:`VOCAB`).
``generate(requests, settings)`` writes the melody of every request (one per cue), one
sequence at a time; each request has its own seeded random stream, so a cue's notes depend only on its inputs
and the seed. Inference runs in numpy (:mod:`.npmodel`); torch is imported only for int8.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadStageFile, ToolMissing
from .tokens import CHORDS, DURATIONS, MAX_POS, PITCH_HI, PITCH_LO, VOCAB, BarData

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "generator.safetensors"
#: Bumped when the numpy inference's arithmetic changes (2: the one-token fast path, forced
#: tokens fed in one pass).
NUMPY_ARITHMETIC = "numpy:2"
#: Logit bonus (nats) of the chord's tones for a note on a strong beat (beat 1, and 3 of a 4/4
#: bar), half of it on the other beats: a melody whose strong beats sit on its harmony.
CHORD_TONE_BIAS = 2.5
#: Logit bonus (nats) of the chord's third on a strong beat, over its other tones: the third says
#: major or minor, which the arrangement's open fifths and drones do not.
THIRD_BIAS = 1.0
#: Logit cost (nats) of repeating the pitch of a note a quarter or longer: a slow line that
#: sits on one note bar after bar is static, not calm (a sparse cue's half notes repeated).
LONG_REPEAT_COST = 1.5
#: A film's rhythmic cell: this many off-beat 16th positions get this logit bonus for note onsets
#: in every cue of the film (its themes share a rhythm; two films' themes do not).
RHYTHM_ACCENTS, RHYTHM_BONUS = 2, 1.2


def film_rhythm(number: int) -> tuple[float, ...]:
    """The onset bonuses of a film's rhythmic cell (16 positions) from a number of the film: two
    of the off-beat positions (the 8th and 16th offbeats) favoured, and, for half the films, the
    half bar's onset a little less likely (a long-short, dotted feel)."""
    rng = np.random.default_rng([number & 0xFFFFFFFF, 31])
    bonus = np.zeros(MAX_POS)
    bonus[rng.choice([2, 4, 6, 10, 12, 14], size=RHYTHM_ACCENTS, replace=False)] = RHYTHM_BONUS
    if rng.random() < 0.5:
        bonus[8] = -0.8
    return tuple(float(x) for x in bonus)


#: Bumped when the sampler's rules change (part of the melody cache key).
SAMPLER_RULES = "form:5"
GENERATOR_ID = "transformer:v1"


@dataclass
class BarCondition:
    """What a bar should be: mode ("maj"/"min"/"unk"), density band (0..3, -1 unk), register
    ("low"/"mid"/"high"/"unk"), chord degree (0..6, -1 unk) and length in quarter beats.

    The sampler (not the model's tokens) also takes: ``tones``, the chord under each part of the
    bar (``(from 16th, pitch classes root first)``: notes on strong beats lean to its tones, its
    third most); ``cadence``,
    the bar ending a phrase (its last note a long chord tone); ``close_pc``, the pitch class that
    long note must be (the tonic of a cue's closing cadence; -1: any chord tone); ``copy_of``, an
    earlier bar of the same request whose notes this bar repeats (form: a sentence's repeated idea)."""

    mode: str
    dens: int
    reg: str
    chord: int
    beats: int = 4
    tones: tuple[tuple[int, tuple[int, ...]], ...] = ()
    cadence: bool = False
    copy_of: int = -1
    close_pc: int = -1

    def tones_at(self, pos16: int) -> tuple[int, ...]:
        """The chord's pitch classes at a 16th position of the bar (empty: none given)."""
        out: tuple[int, ...] = ()
        for p, pcs in self.tones:
            if p <= pos16:
                out = pcs
        return out

    def tokens(self) -> list[int]:
        v = VOCAB
        return [v.id(f"MODE_{self.mode}"), v.id(f"DENS_{self.dens}" if self.dens >= 0 else "DENS_unk"),
                v.id(f"REG_{self.reg}"), v.id(f"CHORD_{CHORDS[self.chord]}" if self.chord >= 0 else "CHORD_unk")]


@dataclass
class CueRequest:
    """A melody to write: key, meter, per-bar conditions; ``prompt`` bars are given (a motif) and
    the model continues from them."""

    tonic_pc: int
    meter_beats: int
    bars: list[BarCondition]
    prompt: list[BarData] = field(default_factory=list)
    seed: int = 0
    #: logit bonus (nats) per 16th position of a note onset: the film's rhythmic cell (empty: none)
    rhythm: tuple[float, ...] = ()


@dataclass
class SamplingSettings:
    temperature: float = 0.9
    top_k: int = 0  # 0 = off
    top_p: float = 0.95  # 1 = off
    max_notes_per_bar: int = 16


@contextmanager
def _one_blas_thread(numpy_backend: bool) -> Iterator[None]:
    """One BLAS thread while sampling with the numpy model: its matrices are a few hundred wide
    and fed a token or a bar at a time, and OpenBLAS's threads spinning for each product cost ten
    times the product on a busy machine (montage of 7 cues: 4.65 s with the default threads
    under other jobs' load, 0.47 s with one)."""
    if not numpy_backend:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


class _TorchBackend:
    """The torch module behind the same small interface as :class:`NumpyTransformer`
    (``reset``, ``forward`` appending to a cache, ``length``); used for int8."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model = model
        self.past = None
        self.length = 0

    def reset(self, batch: int = 1) -> None:  # the torch cache grows as needed
        self.past, self.length = None, 0

    def forward(self, idx: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            logits, self.past = self.model(torch.as_tensor(np.asarray(idx), dtype=torch.long), self.past, self.length)
        self.length += int(np.asarray(idx).shape[1])
        return logits.float().numpy()


class Generator:
    """A loaded model ready to sample: numpy float32 inference by default (no torch import), or
    the torch module with int8 dynamic quantisation of the linear layers (``quantized=True``)."""

    def __init__(self, backend, meta: dict, *, quantized: bool = False, path: str = "") -> None:  # noqa: ANN001
        self.backend = backend
        self.meta = meta
        self.quantized = quantized
        self.path = path
        self.ctx = int(meta["config"]["ctx"])

    @property
    def arithmetic(self) -> str:
        """Version of the inference code's arithmetic (part of the melody cache key)."""
        return "torch-int8" if self.quantized else NUMPY_ARITHMETIC

    @property
    def id(self) -> str:
        return GENERATOR_ID + (":int8" if self.quantized else "")

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, quantized: bool = False, threads: int | None = None
             ) -> Generator:
        """Load the checkpoint (default: the one shipped in models/, or ``$TEMPSCORE_GENERATOR``).

        Only ``.safetensors`` files are read (no pickle, nothing executed); the ``.json`` beside it
        gives the config and vocabulary, which must match this version's tokens.
        """
        p = Path(path or os.environ.get("TEMPSCORE_GENERATOR") or DEFAULT_CHECKPOINT)
        meta_path = p.with_suffix(".json")
        if not p.is_file() or not meta_path.is_file():
            raise BadStageFile(f"{p}: generator checkpoint (and its .json) not found; train one with "
                               f"`python -m tempscore.models.train fit` or use --composer rules")
        if p.suffix != ".safetensors":
            raise BadStageFile(f"{p}: only .safetensors checkpoints are loaded (never pickles)")
        try:
            from safetensors.numpy import load_file
        except ImportError as exc:
            raise ToolMissing("the generator needs safetensors; run `make setup`") from exc
        try:
            meta = json.loads(meta_path.read_text())
            state = load_file(str(p))
            cfg = meta["config"]
        except Exception as exc:  # any corrupt file is a user error here
            raise BadStageFile(f"{p}: not a tempscore generator checkpoint ({exc.__class__.__name__})") from exc
        if tuple(meta.get("vocab", ())) != VOCAB.tokens:
            raise BadStageFile(f"{p}: checkpoint vocabulary does not match this tempscore version")
        if not quantized:
            from .npmodel import NumpyTransformer

            try:
                backend = NumpyTransformer(state, cfg)
                if backend.tok.shape != (int(cfg["vocab_size"]), backend.d) or backend.head.shape[1] != len(VOCAB):
                    raise ValueError("embedding shape")
            except (KeyError, ValueError, TypeError) as exc:
                raise BadStageFile(f"{p}: checkpoint tensors do not fit the model ({exc})") from exc
            return cls(backend, meta, quantized=False, path=str(p))
        try:
            import torch
        except ImportError as exc:
            raise ToolMissing("the int8 generator needs torch; run `make setup-ml`") from exc
        from .transformer import ModelConfig, MusicTransformer

        if threads:
            torch.set_num_threads(threads)
        model = MusicTransformer(ModelConfig(**cfg))
        try:
            model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        except RuntimeError as exc:
            raise BadStageFile(f"{p}: checkpoint tensors do not fit the model ({exc})") from exc
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return cls(_TorchBackend(model), meta, quantized=True, path=str(p))

    # ------------------------------------------------------------------ sampling
    def generate(self, requests: list[CueRequest], settings: SamplingSettings | None = None) -> list[list[BarData]]:
        """Melodies for all requests, one sequence at a time.

        Each request is sampled alone with its own seeded random stream, so its notes depend only
        on the request, the settings and the checkpoint (never on the other requests): that is
        what lets compose cache a cue's melody and re-write only the cues that changed.

        Returns
        -------
        list (per request) of list of BarData
            One entry per requested bar (prompt bars included, as given).
        """
        s = settings or SamplingSettings()
        from .guard import NgramBlocker

        blocker = NgramBlocker()
        with _one_blas_thread(not self.quantized):
            return [self._generate_one(r, s, blocker) for r in requests]

    def _generate_one(self, req: CueRequest, s: SamplingSettings, blocker) -> list[BarData]:  # noqa: ANN001
        st = _SeqState(req, s, blocker)
        hist: list[int] = []
        cur = st.next_forced()
        m = self.backend
        m.reset(1)
        while True:
            chunk = [cur]
            while st.blind():  # forced tokens (bar headers, prompt notes) go in with it, in one pass
                cur = st.step(None)
                if st.done:
                    return st.result()
                chunk.append(cur)
            hist += chunk
            if m.length + len(chunk) > self.ctx - 1:  # slide: keep the header and the recent half
                keep = self.ctx // 2
                m.reset(1)
                last = m.forward(np.array([hist[:3] + hist[-(keep - 3):]]))[0, -1]
            else:
                last = m.forward(np.array([chunk]))[0, -1]
            cur = st.step(last)
            if st.done:
                return st.result()


class _SeqState:
    """Grammar and bookkeeping of one sequence: what may come next, and what was written."""

    def __init__(self, req: CueRequest, s: SamplingSettings, blocker=None) -> None:  # noqa: ANN001
        v = VOCAB
        self.req, self.s = req, s
        self.blocker = blocker
        self.pitches: list[int] = [n for b in req.prompt[: len(req.bars)] for _, n, _ in b.notes]
        self.rng = np.random.default_rng([int(req.seed) & 0x7FFFFFFF, 7])
        self.forced: deque[int] = deque([v.id("BOS"), v.id(f"KEY_{req.tonic_pc % 12}"),
                                         v.id(f"METER_{min(4, max(2, req.meter_beats))}")])
        self.bars_out: list[BarData] = []
        self.bar_i = 0
        n_prompt = min(len(req.prompt), len(req.bars))
        for i in range(n_prompt):
            self.forced += [v.id("BAR"), *req.bars[i].tokens()]
            for p, n, d in req.prompt[i].notes:
                self.forced += [v.id(f"POS_{p}"), v.id(f"PITCH_{min(PITCH_HI, max(PITCH_LO, n))}"), v.id(f"DUR_{d}")]
            self.bars_out.append(BarData(list(req.prompt[i].notes), req.bars[i].chord))
        self.bar_i = n_prompt
        self.done = self.bar_i >= len(req.bars)
        self.expect = "pos_or_bar"
        self.next_free = 0
        self.cur_pos = 0
        self.cur_pitch = 0
        self.fixed_bar = False  # the bar being written repeats an earlier one (its notes are forced)
        self.cad_note = False  # the note being written is the cadence's long last note
        self.pos_ids = np.array([v.id(f"POS_{p}") for p in range(MAX_POS)])
        self.pitch_ids = np.array([v.id(f"PITCH_{p}") for p in range(PITCH_LO, PITCH_HI + 1)])
        self.dur_ids = np.array([v.id(f"DUR_{d}") for d in DURATIONS])
        self.bar_id, self.eos_id, self.pad_id = v.id("BAR"), v.id("EOS"), v.id("PAD")
        if not self.done:
            self.forced.append(v.id("BAR"))
            self._open_bar()

    def next_forced(self) -> int:
        return self.forced.popleft()

    def _slots(self) -> int:
        return min(MAX_POS, 4 * self.req.bars[self.bar_i].beats)

    def _sample(self, logits: np.ndarray, allowed: np.ndarray, bias: np.ndarray | None = None) -> int:
        s = self.s
        z = logits[allowed] / max(s.temperature, 1e-4)
        if bias is not None:
            z = z + bias
        z = z - z.max()
        p = np.exp(z)
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        keep = np.ones(len(p), bool)
        if s.top_k and s.top_k < len(p):
            keep[order[s.top_k:]] = False
        if s.top_p < 1.0:
            cum = np.cumsum(p[order])
            cut = int(np.searchsorted(cum, s.top_p)) + 1
            keep[order[cut:]] = False
        p = np.where(keep, p, 0.0)
        p /= p.sum()
        return int(allowed[self.rng.choice(len(p), p=p)])

    def _open_bar(self) -> None:
        """Queue the bar's conditioning tokens, and, for a bar repeating an earlier one, its notes."""
        v = VOCAB
        cond = self.req.bars[self.bar_i]
        self.forced += list(cond.tokens())
        self.fixed_bar = 0 <= cond.copy_of < self.bar_i
        notes = [(p, n, d) for p, n, d in self.bars_out[cond.copy_of].notes if p + d <= self._slots()] if self.fixed_bar else []
        for p, n, d in notes:
            self.forced += [v.id(f"POS_{p}"), v.id(f"PITCH_{min(PITCH_HI, max(PITCH_LO, n))}"), v.id(f"DUR_{d}")]
        self.pitches += [n for _, n, _ in notes]
        self.bars_out.append(BarData(notes, cond.chord))

    def _end_bar(self) -> int:
        self.bar_i += 1
        self.next_free = 0
        self.expect = "pos_or_bar"
        if self.bar_i >= len(self.req.bars):
            self.done = True
            return self.eos_id
        self._open_bar()
        return self.bar_id

    def _cad_pos(self) -> int | None:
        """Where a cadence bar's long last note starts (the middle of a 4/4 bar, else the
        downbeat); None in other bars."""
        if not self.req.bars[self.bar_i].cadence:
            return None
        slots = self._slots()
        return slots // 2 if slots >= 16 else 0

    def _last_note(self) -> tuple[int, int, int] | None:
        """The last note written (this bar's, else the last bar with notes)."""
        for b in reversed(self.bars_out):
            if b.notes:
                return b.notes[-1]
        return None

    def _bar_full(self) -> bool:
        return self.next_free >= self._slots() or len(self.bars_out[-1].notes) >= self.s.max_notes_per_bar

    def blind(self) -> bool:
        """Whether the next :meth:`step` needs no logits (a forced token, a full or repeated bar's
        end, a cadence note's forced position)."""
        if self.done or self.forced:
            return True
        if self.expect != "pos_or_bar":
            return False
        cad = self._cad_pos()
        return self.fixed_bar or (self._bar_full() and (cad is None or self.next_free > cad)) or self.next_free == cad

    def step(self, logits: np.ndarray | None) -> int:
        """Choose the next token (forced, or sampled under the grammar) and update the state;
        ``logits`` may be None when :meth:`blind`."""
        if self.done:
            return self.pad_id
        if self.forced:
            return self.forced.popleft()
        if self.expect == "pos_or_bar":
            slots = self._slots()
            cad = self._cad_pos()
            if self.fixed_bar or (self._bar_full() and (cad is None or self.next_free > cad)):
                return self._end_bar()
            if cad is not None and self.next_free == cad:  # the cadence's long note starts here
                tok = int(self.pos_ids[cad])
            else:
                end = slots if cad is None else cad + 1
                allowed = self.pos_ids[self.next_free:end]
                bias = None
                if self.req.rhythm:
                    bias = np.array([self.req.rhythm[p] if p < len(self.req.rhythm) else 0.0
                                     for p in range(self.next_free, end)])
                if cad is None:
                    allowed = np.r_[allowed, [self.bar_id]]
                    bias = None if bias is None else np.r_[bias, [0.0]]
                tok = self._sample(logits, allowed, bias)
                if tok == self.bar_id:
                    return self._end_bar()
            self.cur_pos = int(np.flatnonzero(self.pos_ids == tok)[0])
            self.cad_note = cad is not None and self.cur_pos == cad
            self.expect = "pitch"
            return tok
        if self.expect == "pitch":
            allowed = self.pitch_ids
            pitches = np.arange(PITCH_LO, PITCH_HI + 1)
            if self.blocker is not None:  # copyright guard: never complete a corpus interval 12-gram
                ok = self.blocker.allowed(self.pitches, pitches)
                if ok.any():
                    allowed, pitches = self.pitch_ids[ok], pitches[ok]
            tones = self.req.bars[self.bar_i].tones_at(self.cur_pos)
            bias = np.zeros(len(pitches))
            last = self._last_note()
            if last is not None and last[2] >= 4:
                bias -= LONG_REPEAT_COST * (pitches == last[1])
            if tones:
                is_tone = np.isin(pitches % 12, tones)
                if self.cad_note and is_tone.any():  # the cadence lands on a chord tone (the tonic when it closes)
                    close = self.req.bars[self.bar_i].close_pc
                    land = is_tone & (pitches % 12 == close) if close >= 0 and (pitches % 12 == close).any() else is_tone
                    allowed, pitches, bias, is_tone = allowed[land], pitches[land], bias[land], is_tone[land]
                strong = self.cur_pos == 0 or (self._slots() >= 16 and self.cur_pos == 8)
                weight = CHORD_TONE_BIAS if strong else CHORD_TONE_BIAS / 2 if self.cur_pos % 4 == 0 else 0.0
                bias = bias + weight * is_tone
                if strong and len(tones) >= 3:
                    bias = bias + THIRD_BIAS * (pitches % 12 == tones[1])
            tok = self._sample(logits, allowed, bias)
            self.cur_pitch = PITCH_LO + int(np.flatnonzero(self.pitch_ids == tok)[0])
            self.pitches.append(self.cur_pitch)
            self.expect = "dur"
            return tok
        # duration: must fit in the bar (before a cadence's note: up to it; the cadence's note: to the bar's end)
        room = self._slots() - self.cur_pos
        cad = self._cad_pos()
        if cad is not None and self.cur_pos < cad:
            room = cad - self.cur_pos
        ok = np.array([d <= room for d in DURATIONS])
        if self.cad_note:
            ok = np.array([d == max((x for x in DURATIONS if x <= room), default=DURATIONS[0]) for d in DURATIONS])
        allowed = self.dur_ids[ok] if ok.any() else self.dur_ids[:1]
        tok = self._sample(logits, allowed) if len(allowed) > 1 or logits is not None else int(allowed[0])
        d = DURATIONS[int(np.flatnonzero(self.dur_ids == tok)[0])]
        self.bars_out[-1].notes.append((self.cur_pos, self.cur_pitch, d))
        self.next_free = self.cur_pos + d
        self.expect = "pos_or_bar"
        return tok

    def result(self) -> list[BarData]:
        out = self.bars_out[: len(self.req.bars)]
        while len(out) < len(self.req.bars):
            out.append(BarData([], self.req.bars[len(out)].chord))
        return out
