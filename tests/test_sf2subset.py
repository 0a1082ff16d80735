"""SoundFont subsets: a valid SF2 holding only the presets asked for, rendering the same notes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tempscore.errors import InvalidSettings
from tempscore.render import synth
from tempscore.render.sf2subset import _SHDR, GUARD_POINTS, _chunks, subset_soundfont
from tempscore.render.synth import fluidr3_path, iter_sections, timgm6mb_path

FONTS = [p for p in (timgm6mb_path(), fluidr3_path()) if p is not None]
#: (bank, program, key) played together: strings, piano, cello, flute, horn, drums (kick, snare)
VOICES = [(0, 48, 55), (0, 0, 60), (0, 42, 43), (0, 73, 79), (0, 60, 65), (128, 0, 36), (128, 0, 38)]


def _render(font_src: Path | bytes, sr: int = 22050) -> np.ndarray:
    from tinysoundfont import _tinysoundfont as tsf

    font = tsf.SoundFont(font_src if isinstance(font_src, bytes) else str(font_src))
    font.set_output(tsf.OutputMode.StereoInterleaved, sr, -6.0)
    out = np.zeros((3 * sr, 2), np.float32)
    mv = memoryview(out).cast("B")
    for ch, (bank, program, _) in enumerate(VOICES):
        font.channel_set_bank(ch, bank)
        font.channel_set_preset_number(ch, program, bank == 128)
    for ch, (_, _, key) in enumerate(VOICES):
        font.channel_note_on(ch, key, 0.8)
    font.render(mv[: sr * 8], False)  # 1 s held (8 bytes per stereo frame)
    for ch, (_, _, key) in enumerate(VOICES):
        font.channel_note_off(ch, key)
    font.render(mv[sr * 8 :], False)  # 2 s of release
    return out


def _pdta(data: bytes) -> dict[str, np.ndarray]:
    top = _chunks(data, 12, len(data))
    at, size = top["LIST:pdta"]
    pdta = _chunks(data, at, at + size)
    shdr_at, shdr_size = pdta["shdr"]
    return {"shdr": np.frombuffer(data, _SHDR, count=shdr_size // _SHDR.itemsize, offset=shdr_at),
            "smpl": np.frombuffer(data, "<i2", count=_chunks(data, *_span(top["LIST:sdta"]))["smpl"][1] // 2,
                                  offset=_chunks(data, *_span(top["LIST:sdta"]))["smpl"][0])}


def _span(at_size: tuple[int, int]) -> tuple[int, int]:
    return at_size[0], at_size[0] + at_size[1]


@pytest.mark.parametrize("sf", FONTS, ids=[p.name for p in FONTS])
def test_subset_renders_the_same_notes_as_the_whole_font(sf: Path):
    cut = subset_soundfont(sf, [(b, p) for b, p, _ in VOICES] + [(0, 127), (5, 3)])
    assert set(cut.presets) == {(b, p) for b, p, _ in VOICES} | {(0, 127)}
    assert cut.missing == ((5, 3),)
    assert len(cut.data) < sf.stat().st_size
    whole, part = _render(sf), _render(cut.data)
    peak = np.abs(whole).max()
    assert peak > 0.05  # the notes sound
    # the same notes to the float rounding of the sample position (the samples sit at other offsets)
    assert np.abs(whole - part).max() <= 1e-5 * max(1.0, peak)


@pytest.mark.parametrize("sf", FONTS, ids=[p.name for p in FONTS])
def test_subset_is_a_well_formed_sf2(sf: Path):
    cut = subset_soundfont(sf, [(0, 48), (128, 0)])
    data = cut.data
    assert data[:4] == b"RIFF" and data[8:12] == b"sfbk"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8  # the RIFF size covers the file exactly
    t = _pdta(data)
    shdr, smpl = t["shdr"], t["smpl"]
    assert shdr[-1]["name"].startswith(b"EOS") and len(shdr) > 1
    for r in shdr[:-1]:  # every sample lies inside the data, loops inside it, 46 zero guard points after it
        assert r["start"] < r["end"] <= len(smpl) - GUARD_POINTS
        assert r["start"] <= r["loop_start"] <= r["loop_end"] <= r["end"] + 1
        assert not smpl[r["end"] : r["end"] + GUARD_POINTS].any()
    again = subset_soundfont_bytes(data, cut.presets)  # a subset of the subset keeps everything
    assert again == data


def subset_soundfont_bytes(data: bytes, presets) -> bytes:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".sf2") as f:
        f.write(data)
        f.flush()
        return subset_soundfont(Path(f.name), presets).data


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from([(0, p) for p in range(0, 128, 7)] + [(128, 0), (128, 40), (3, 3)]), min_size=1, max_size=6))
def test_any_preset_set_gives_a_loadable_font_with_those_presets(presets):
    from tinysoundfont import _tinysoundfont as tsf

    sf = timgm6mb_path()
    cut = subset_soundfont(sf, presets)
    whole = tsf.SoundFont(str(sf))
    assert set(cut.missing) == {(b, p) for b, p in presets if whole.get_preset_index(b, p) < 0}
    if not cut.presets:  # nothing asked for is in the file: synth loads the whole file instead
        return
    font = tsf.SoundFont(cut.data)
    for bank, program in presets:
        assert (font.get_preset_index(bank, program) >= 0) == (whole.get_preset_index(bank, program) >= 0)
    assert font.get_preset_count() == len(cut.presets)


def test_not_a_soundfont_is_a_user_error(tmp_path: Path):
    bad = tmp_path / "notes.sf2"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST\x04\x00\x00\x00INFO")
    with pytest.raises(InvalidSettings, match="notes.sf2: not a readable SoundFont 2 file"):
        subset_soundfont(bad, [(0, 0)])
    text = tmp_path / "readme.sf2"
    text.write_text("hello")
    with pytest.raises(InvalidSettings, match="readme.sf2"):
        subset_soundfont(text, [(0, 0)])


def _score(path: Path) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    for program, base in ((48, 55), (0, 60), (42, 40), (73, 76)):
        inst = pretty_midi.Instrument(program=program)
        for k in range(6):
            inst.notes.append(pretty_midi.Note(velocity=90, pitch=base + 2 * k, start=0.5 * k, end=0.5 * k + 0.8))
        pm.instruments.append(inst)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes += [pretty_midi.Note(velocity=100, pitch=36 + (k % 3), start=0.25 * k, end=0.25 * k + 0.1)
                    for k in range(12)]
    pm.instruments.append(drums)
    pm.write(str(path))
    return path


def test_synthesis_with_cut_fonts_equals_the_whole_font(tmp_path: Path, monkeypatch):
    """Sections rendered from per-section subsets (how large fonts are loaded) match the whole font."""
    midi = _score(tmp_path / "s.mid")
    sf = timgm6mb_path()

    def render(min_bytes: int) -> dict[str, np.ndarray]:
        monkeypatch.setattr(synth, "SUBSET_MIN_BYTES", min_bytes)
        return {s: a.copy() for s, a, _ in iter_sections(midi, sr=22050, duration_sec=5.0, soundfont=sf)}

    pool: dict = {}
    monkeypatch.setattr(synth, "SUBSET_MIN_BYTES", 0)
    list(iter_sections(midi, sr=22050, duration_sec=5.0, soundfont=sf, fonts=pool))
    (source,) = pool.values()
    assert len(source._fonts) == 4  # strings, keys, woodwinds/brass..., percussion: one cut font each
    whole, cut = render(1 << 40), render(0)
    assert whole.keys() == cut.keys() and len(whole) >= 3
    for s in whole:
        assert np.abs(whole[s]).max() > 0.01
        assert np.abs(whole[s] - cut[s]).max() <= 1e-5, s


def test_cut_fonts_are_kept_in_the_cache_for_later_runs(tmp_path: Path, monkeypatch):
    """A later process loads each section's cut font from the project cache (no cutting), renders the
    same samples, and a damaged cached cut is cut again; cut files are pruned like the audio."""
    from tempscore.cache import StageCache

    midi = _score(tmp_path / "s.mid")
    sf = timgm6mb_path()
    monkeypatch.setattr(synth, "SUBSET_MIN_BYTES", 0)
    cuts: list[frozenset] = []
    from tempscore.render import sf2subset

    orig = sf2subset.subset_soundfont  # imported by name inside _FontSource._load, so patched here

    def counting(path, presets):
        cuts.append(frozenset(presets))
        return orig(path, presets)

    monkeypatch.setattr(sf2subset, "subset_soundfont", counting)

    def render(cache: StageCache) -> dict[str, np.ndarray]:  # a fresh font pool: a new process
        return {s: a.copy() for s, a, _ in iter_sections(midi, sr=22050, duration_sec=5.0, soundfont=sf,
                                                         cache=cache)}

    first = render(StageCache(tmp_path / "c"))
    n_sections = len(first)
    assert len(cuts) >= n_sections and len(list((tmp_path / "c" / "soundfont").glob("*.sf2"))) == n_sections
    cuts.clear()
    later = StageCache(tmp_path / "c")
    for p in (tmp_path / "c" / "synth").glob("*.npy"):  # make the notes render again
        p.unlink()
    again = render(later)
    assert cuts == []
    for s in first:
        assert np.array_equal(first[s], again[s]), s
    damaged = sorted((tmp_path / "c" / "soundfont").glob("*.sf2"))[0]
    damaged.write_bytes(b"RIFF\0\0\0\0junk")
    for p in (tmp_path / "c" / "synth").glob("*.npy"):
        p.unlink()
    third = render(StageCache(tmp_path / "c"))
    assert len(cuts) >= 1
    for s in first:
        assert np.array_equal(first[s], third[s]), s
    cache = StageCache(tmp_path / "c")
    cache.started_ns += 60 * 10**9  # a run a minute later: every entry is an older run's
    assert cache.prune(0) > 0 and not list((tmp_path / "c" / "soundfont").glob("*.sf2"))


def test_ctrl_c_while_reading_the_soundfont_is_an_interrupt_not_a_buffer_error(monkeypatch):
    """Ctrl+C in the middle of the subset, with a view into the mapped file still alive, stays a
    KeyboardInterrupt (closing the mapping then raised BufferError, which became an internal error
    instead of exit 130)."""
    import numpy as np
    from tempscore.render import sf2subset
    from tempscore.render.synth import timgm6mb_path

    def interrupted(mm, want):
        _view = np.frombuffer(mm, np.uint8, count=16)  # alive in this frame when interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(sf2subset, "_subset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sf2subset.subset_soundfont(timgm6mb_path(), [(0, 0)])
