"""A SoundFont 2 file cut down to the presets a score plays.

TinySoundFont converts every sample of a soundfont to float when it loads one: 0.3 s for Debian's
FluidR3 GM (141 MB), paid by every process that synthesises a note, while a cue plays a handful
of its 189 presets. :func:`subset_soundfont` writes a valid SF2 image holding only the presets
asked for, their instruments and their samples (loop points, links and the 46 guard points after
each sample kept), so the synthesiser loads a few megabytes instead; the notes it renders are
identical (``tests/test_sf2subset.py`` renders with both and compares the samples).

The layout follows the SoundFont 2.04 specification: a RIFF ``sfbk`` form with an ``INFO`` list
(copied), an ``sdta`` list (``smpl``, 16-bit, and the optional ``sm24``) and a ``pdta`` list of nine
record tables (``phdr pbag pmod pgen inst ibag imod igen shdr``), each ending with a terminal
record. Presets, instruments and samples keep their original order.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidSettings

#: Record layouts of the pdta tables (little-endian), SF2.04 section 7.
_PHDR = np.dtype([("name", "S20"), ("preset", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                  ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")])
_BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
_MOD = np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amt_src", "<u2"), ("trans", "<u2")])
_GEN = np.dtype([("oper", "<u2"), ("amount", "<u2")])
_INST = np.dtype([("name", "S20"), ("bag", "<u2")])
_SHDR = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"), ("loop_end", "<u4"),
                  ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"), ("link", "<u2"), ("type", "<u2")])
_TABLES = {"phdr": _PHDR, "pbag": _BAG, "pmod": _MOD, "pgen": _GEN, "inst": _INST, "ibag": _BAG,
           "imod": _MOD, "igen": _GEN, "shdr": _SHDR}
#: Generator numbers that index another table: a preset zone's instrument, an instrument zone's sample.
GEN_INSTRUMENT = 41
GEN_SAMPLE_ID = 53
#: Changes when :func:`subset_soundfont` writes other bytes for the same input (cut files are cached).
SUBSET_FORMAT = 1
#: Zero sample points the specification requires after each sample.
GUARD_POINTS = 46
_ROM_SAMPLE = 0x8000


@dataclass(frozen=True)
class Subset:
    """A cut-down soundfont.

    Attributes
    ----------
    data : bytes
        The SF2 file image (load with ``tinysoundfont.SoundFont(data)``).
    presets : tuple of (bank, program)
        The presets it holds, in the original file's order.
    missing : tuple of (bank, program)
        Requested presets the original does not have.
    """

    data: bytes
    presets: tuple[tuple[int, int], ...]
    missing: tuple[tuple[int, int], ...]


def _chunks(buf: bytes | mmap.mmap, start: int, end: int) -> dict[str, tuple[int, int]]:
    """``{id: (data_offset, size)}`` of the RIFF chunks between ``start`` and ``end``; LIST chunks as
    ``LIST:<type>`` with the offset after the type."""
    out: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        cid = bytes(buf[pos : pos + 4]).decode("latin-1")
        (size,) = struct.unpack_from("<I", buf, pos + 4)
        data = pos + 8
        if data + size > end:
            raise ValueError(f"chunk {cid!r} runs past the end of its container")
        if cid == "LIST":
            out["LIST:" + bytes(buf[data : data + 4]).decode("latin-1")] = (data + 4, size - 4)
        else:
            out[cid] = (data, size)
        pos = data + size + (size & 1)
    return out


def _chunk(cid: str, payload: bytes) -> bytes:
    return cid.encode("latin-1") + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def subset_soundfont(path: Path, presets: Iterable[tuple[int, int]]) -> Subset:
    """Cut a SoundFont 2 file down to some of its presets.

    Parameters
    ----------
    path : Path
        The ``.sf2`` file (memory-mapped; only the samples kept are read).
    presets : iterable of (bank, program)
        Presets to keep (bank 128 holds the drum kits); ones the file lacks are reported in
        ``missing``.

    Returns
    -------
    Subset

    Raises
    ------
    InvalidSettings
        ``path`` is not a SoundFont 2 file this reader understands (named, with the fix).
    """
    want = {(int(b), int(p)) for b, p in presets}
    try:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                return _subset(mm, want)
            finally:
                # a view into it still alive (Ctrl+C mid-read): unmapped when collected, and the
                # interrupt, not a BufferError from closing it, is what the user sees
                with contextlib.suppress(BufferError):
                    mm.close()
    except (ValueError, KeyError, IndexError, struct.error, OSError) as exc:
        raise InvalidSettings(f"{path}: not a readable SoundFont 2 file ({exc}); pass another --soundfont") from exc


def _subset(mm: mmap.mmap | bytes, want: set[tuple[int, int]]) -> Subset:
    """The presets ``want`` of the SF2 in ``mm``, with the instruments and samples they use."""
    info, sdta, t = _read_font(mm)
    phdr = t["phdr"]
    have = {(int(r["bank"]), int(r["preset"])): i for i, r in enumerate(phdr[:-1])}
    keep_p = sorted(have[k] for k in want if k in have)
    missing = tuple(sorted(k for k in want if k not in have))
    # presets -> bags -> generators (instrument references) -> instruments -> bags -> samples
    keep_i = sorted(k for k in _referenced(phdr, keep_p, t["pbag"], t["pgen"], GEN_INSTRUMENT)
                    if k < len(t["inst"]) - 1)
    keep_s = _kept_samples(t["shdr"], _referenced(t["inst"], keep_i, t["ibag"], t["igen"], GEN_SAMPLE_ID))
    new_inst = {old: new for new, old in enumerate(keep_i)}
    new_smp = {old: new for new, old in enumerate(keep_s)}
    smpl_at, smpl_size = sdta["smpl"]
    n_points = smpl_size // 2
    spans, out_shdr, offset = _sample_layout(t["shdr"], keep_s, new_smp, n_points=n_points)
    o_phdr, o_pbag, o_pgen, o_pmod = _cut(phdr, keep_p, t["pbag"], t["pgen"], t["pmod"], GEN_INSTRUMENT, new_inst)
    o_inst, o_ibag, o_igen, o_imod = _cut(t["inst"], keep_i, t["ibag"], t["igen"], t["imod"], GEN_SAMPLE_ID, new_smp)
    tables = {"phdr": o_phdr, "pbag": o_pbag, "pmod": o_pmod, "pgen": o_pgen, "inst": o_inst, "ibag": o_ibag,
              "imod": o_imod, "igen": o_igen, "shdr": out_shdr}
    sm24 = sdta["sm24"][0] if "sm24" in sdta and sdta["sm24"][1] >= n_points else None
    data = _write_font(mm, info, tables, spans, offset, smpl_at=smpl_at, n_points=n_points, sm24_at=sm24)
    kept = tuple((int(phdr[i]["bank"]), int(phdr[i]["preset"])) for i in keep_p)
    return Subset(data=data, presets=kept, missing=missing)


def _read_font(mm: mmap.mmap | bytes) -> tuple[bytes, dict[str, tuple[int, int]], dict[str, np.ndarray]]:
    """The INFO list's bytes, the sdta chunks (offset, size) and the pdta tables of an SF2."""
    if len(mm) < 12 or mm[0:4] != b"RIFF" or mm[8:12] != b"sfbk":
        raise ValueError("no RIFF sfbk header")
    top = _chunks(mm, 12, min(len(mm), 8 + struct.unpack_from("<I", mm, 4)[0]))
    info_at, info_size = top["LIST:INFO"]
    sdta = _chunks(mm, *_span(top["LIST:sdta"]))
    pdta = _chunks(mm, *_span(top["LIST:pdta"]))
    t = {name: np.frombuffer(mm, dt, count=pdta[name][1] // dt.itemsize, offset=pdta[name][0]).copy()
         for name, dt in _TABLES.items()}
    if min(len(t[k]) for k in ("phdr", "inst", "shdr", "pbag", "ibag", "pgen", "igen")) < 1:
        raise ValueError("empty preset, instrument or sample table")
    return bytes(mm[info_at : info_at + info_size]), sdta, t


def _bag_range(table: np.ndarray, i: int) -> range:
    return range(int(table[i]["bag"]), int(table[i + 1]["bag"]))


def _gens_of(bags: np.ndarray, j: int) -> range:
    return range(int(bags[j]["gen"]), int(bags[j + 1]["gen"]))


def _mods_of(bags: np.ndarray, j: int) -> range:
    return range(int(bags[j]["mod"]), int(bags[j + 1]["mod"]))


def _referenced(hdr: np.ndarray, keep: list[int], bags: np.ndarray, gens: np.ndarray, oper: int) -> set[int]:
    """Indices the kept records' zones point at through generator ``oper``."""
    return {int(gens[g]["amount"]) for i in keep for j in _bag_range(hdr, i) for g in _gens_of(bags, j)
            if gens[g]["oper"] == oper}


def _kept_samples(shdr: np.ndarray, used: set[int]) -> list[int]:
    """The samples used, with the other half of each stereo pair."""
    todo = [s for s in used if s < len(shdr) - 1]
    keep: set[int] = set()
    while todo:
        s = todo.pop()
        if s in keep:
            continue
        keep.add(s)
        link = int(shdr[s]["link"])
        if shdr[s]["type"] & 0x0F not in (0, 1) and link < len(shdr) - 1:
            todo.append(link)
    return sorted(keep)


def _sample_layout(shdr: np.ndarray, keep_s: list[int], new_smp: dict[int, int], *,
                   n_points: int) -> tuple[list[tuple[int, int, int]], np.ndarray, int]:
    """Where each kept sample's points (and its loop, should it reach outside) go, with 46 zeros
    after each: ``(source start, source end, destination start)`` in points, the new sample
    headers, and the points in all."""
    spans: list[tuple[int, int, int]] = []
    out_shdr = shdr[keep_s + [len(shdr) - 1]].copy()
    offset = 0
    for row, s in enumerate(keep_s):
        r = shdr[s]
        if r["type"] & _ROM_SAMPLE:
            raise ValueError(f"sample {s} lives in a ROM")
        lo = min(int(r["start"]), int(r["loop_start"]))
        hi = max(int(r["end"]), int(r["loop_end"]))
        lo, hi = max(0, lo), min(n_points, max(hi, lo))
        spans.append((lo, hi, offset))
        shift = offset - lo
        for f in ("start", "end", "loop_start", "loop_end"):
            out_shdr[row][f] = max(0, int(r[f]) + shift)
        out_shdr[row]["link"] = new_smp.get(int(r["link"]), 0)
        offset += hi - lo + GUARD_POINTS
    out_shdr[-1]["start"] = out_shdr[-1]["end"] = out_shdr[-1]["loop_start"] = out_shdr[-1]["loop_end"] = 0
    return spans, out_shdr, offset


def _cut(hdr: np.ndarray, keep: list[int], bags: np.ndarray, gens: np.ndarray, mods: np.ndarray,
         ref_oper: int, remap: dict[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The kept records of a header table with their bags, generators (references renumbered by
    ``remap``; one to a dropped record left out) and modulators."""
    out_hdr = hdr[keep + [len(hdr) - 1]].copy()
    bag_rows, gen_rows, mod_rows = [], [], []
    for row, i in enumerate(keep):
        out_hdr[row]["bag"] = len(bag_rows)
        for j in _bag_range(hdr, i):
            bag_rows.append((len(gen_rows), len(mod_rows)))
            for g in _gens_of(bags, j):
                oper, amount = int(gens[g]["oper"]), int(gens[g]["amount"])
                if oper == ref_oper:
                    if amount not in remap:  # a zone pointing at a missing record: drop the reference
                        continue
                    amount = remap[amount]
                gen_rows.append((oper, amount))
            mod_rows.extend(_mods_of(bags, j))
    out_hdr[-1]["bag"] = len(bag_rows)
    bag_rows.append((len(gen_rows), len(mod_rows)))
    out_bags = np.array(bag_rows, _BAG)
    out_gens = np.array(gen_rows + [(0, 0)], _GEN)
    out_mods = np.concatenate([mods[mod_rows], np.zeros(1, _MOD)])
    return out_hdr, out_bags, out_gens, out_mods


def _write_font(mm: mmap.mmap | bytes, info: bytes, tables: dict[str, np.ndarray],
                spans: list[tuple[int, int, int]], offset: int, *, smpl_at: int, n_points: int,
                sm24_at: int | None) -> bytes:
    """The subset SF2's bytes: one buffer, the samples copied straight into it (FluidR3's strings
    alone are megabytes)."""
    pdta_body = b"".join(_chunk(name, tables[name].tobytes()) for name in _TABLES)
    has24 = sm24_at is not None
    n16, n24 = 2 * offset, (offset if has24 else 0)
    sdta_size = 4 + 8 + n16 + (8 + n24 + (n24 & 1) if has24 else 0)
    riff_size = 4 + (8 + 4 + len(info) + (len(info) & 1)) + (8 + sdta_size) + (8 + 4 + len(pdta_body))
    out = bytearray(8 + riff_size)
    pos = 0

    def put(raw: bytes) -> None:
        nonlocal pos
        out[pos : pos + len(raw)] = raw
        pos += len(raw)

    put(b"RIFF" + struct.pack("<I", riff_size) + b"sfbk")
    put(_chunk("LIST", b"INFO" + info))
    put(b"LIST" + struct.pack("<I", sdta_size) + b"sdta" + b"smpl" + struct.pack("<I", n16))
    _copy_points(out, pos, mm, smpl_at, spans, dtype="<i2", count=offset, n_points=n_points)  # zeros stay as guards
    pos += n16
    if has24:
        put(b"sm24" + struct.pack("<I", n24))
        _copy_points(out, pos, mm, sm24_at, spans, dtype="u1", count=offset, n_points=n_points)
        pos += n24 + (n24 & 1)
    put(b"LIST" + struct.pack("<I", 4 + len(pdta_body)) + b"pdta" + pdta_body)
    if pos != len(out):
        raise AssertionError(f"SF2 subset layout: wrote {pos} of {len(out)} bytes")
    return bytes(out)


def _copy_points(out: bytearray, pos: int, mm: mmap.mmap | bytes, src_at: int, spans: list[tuple[int, int, int]], *,
                 dtype: str, count: int, n_points: int) -> None:
    dst = np.frombuffer(out, dtype, count=count, offset=pos)
    src = np.frombuffer(mm, dtype, count=n_points, offset=src_at)
    for lo, hi, at in spans:
        dst[at : at + hi - lo] = src[lo:hi]


def _span(at_size: tuple[int, int]) -> tuple[int, int]:
    at, size = at_size
    return at, at + size
