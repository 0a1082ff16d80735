"""The first cue heard before the render (``tempscore.score(first_cue=...)``, the spotting page's
preview): made between compose and render, before any output lands; the final score's music over
that cue times one factor; and no output changed by making it."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

import tempscore
from tempscore.render import RenderSettings
from tempscore.render.preview import first_cue_music, first_sounding_cue

from conftest import SAMPLE

#: One step of a 24-bit WAV, full scale 1.
STEP = 1 / 8388607


def gain_matched(preview: np.ndarray, final: np.ndarray) -> tuple[float, float]:
    """The one factor (dB) that takes ``preview`` to ``final`` (least squares) and the largest
    sample left over after it, in 24-bit steps."""
    x, y = preview.astype(np.float64).ravel(), final.astype(np.float64).ravel()
    g = float(np.dot(x, y) / np.dot(x, x))
    return 20 * np.log10(g), float(np.abs(y - g * x).max()) / STEP


def digests(folder: Path) -> dict[str, str]:
    return {s: hashlib.sha256((folder / f"rough_cut{s}").read_bytes()).hexdigest()
            for s in (".score.mid", ".score.wav", ".sync.csv")}


@pytest.fixture(scope="module")
def with_preview(tmp_path_factory):
    """The sample scored with a first-cue callback (as the page runs it: stems on); yields the
    result, what the callback saw and the final music."""
    out = tmp_path_factory.mktemp("first-cue")
    seen: dict = {}

    def first_cue(fc) -> None:
        seen["fc"] = fc
        seen["outputs_then"] = sorted(p.name for p in out.glob("rough_cut.*") if p.is_file())
        seen["timeline_then"] = Path(fc.timeline_file).read_bytes()

    res = tempscore.score(SAMPLE, out, first_cue=first_cue, stems=True)
    final, sr = soundfile.read(str(res.wav), dtype="float32")
    return res, seen, final, sr


def test_first_cue_comes_before_any_output_and_is_the_final_cue_times_one_factor(with_preview):
    res, seen, final, sr = with_preview
    fc = seen["fc"]
    assert seen["outputs_then"] == []  # nothing of the run had landed: the render had not started
    assert seen["timeline_then"] == res.timeline_path.read_bytes()  # this run's timeline, as it landed
    cue = res.timeline.cues[0]
    assert (fc.cue_id, fc.sr) == (cue.id, sr) and fc.start_sec == 0.0
    assert len(fc.audio) == round(cue.end_sec * sr) and fc.end_sec == pytest.approx(cue.end_sec, abs=1 / sr)
    factor_db, worst = gain_matched(fc.audio, final[: len(fc.audio)])
    # the final WAV is 24-bit (half a step from its float), the factor's float32 products ~1e-7 of
    # the level: anything more would be other samples (another synthesis, hall, ducking or fade)
    assert worst <= 1.5, (factor_db, worst)
    # the one factor: the render's gain is set from the whole programme, the cue's on its own
    assert fc.lufs == pytest.approx(-23.0, abs=0.05) and not fc.gain_held
    assert abs(factor_db) < 20
    # the render read back what the first cue had made (its segments and hall pieces)
    cache = res.summary.render.synth_cache
    assert cache["segments_reused"] >= 1 and cache["hall_pieces_reused"] >= 1


def test_first_cue_changes_no_output(with_preview, tmp_path):
    res, _, _, _ = with_preview
    plain = tempscore.score(SAMPLE, tmp_path, stems=True)
    assert digests(tmp_path) == digests(res.project.folder)
    assert "preview" not in plain.summary.timings_sec and "preview" in res.summary.timings_sec


@pytest.mark.parametrize("stems", [False, True])
def test_a_later_first_cue_gets_the_hall_ringing_into_it(with_preview, tmp_path, stems):
    """The first cue tacet: the preview is the second cue, and the hall of the first cue's music
    (synthesised for the preview, with the render's own pieces) rings into it as in the final. The
    render's gain is in the cache copy: held, as the render would hold it (the factor is then 1)."""
    res, _, final, sr = with_preview
    tl = dataclasses.replace(res.timeline, cues=[dataclasses.replace(c) for c in res.timeline.cues])
    tl.cues[0].tacet = True  # the segments are unchanged (a tacet cue changes the previous cue's tail only)
    second = first_sounding_cue(tl)
    assert second is tl.cues[1]
    cache_dir = tmp_path / "cache"
    shutil.copytree(res.project.cache_dir, cache_dir)
    for kind in ("synth", "hall"):  # made again here, not read back
        shutil.rmtree(cache_dir / kind, ignore_errors=True)
    from tempscore.api.files import speech_regions_for
    from tempscore.cache import StageCache

    speech, _ = speech_regions_for(res.timeline, res.project.analysis)
    m = first_cue_music(res.project.midi, tl, settings=RenderSettings(stems=stems), speech=speech,
                        cache=StageCache(cache_dir))
    a = round(second.start_sec * sr)
    assert m.cue_id == second.id and m.start_sec == pytest.approx(a / sr)
    span = final[a : a + len(m.audio)]
    ringing = float(np.abs(final[a : a + sr // 10]).max())  # the first cue's tail and hall at the cut
    assert ringing > 1e-3
    factor_db, worst = gain_matched(m.audio, span)
    # the final is a stems render: each section's hall summed apart, which without stems is one sum,
    # equal to float rounding (the stems sum to the music within ~2.4e-7: 2 steps, measured when they came in)
    assert worst <= (1.5 if stems else 3.5), (factor_db, worst)


def test_no_cue_with_music_no_first_cue(with_preview):
    res, _, _, _ = with_preview
    tl = dataclasses.replace(res.timeline, cues=[dataclasses.replace(c, tacet=True) for c in res.timeline.cues])
    assert first_sounding_cue(tl) is None
    from tempscore.cache import StageCache

    assert first_cue_music(res.project.midi, tl, cache=StageCache(res.project.cache_dir)) is None


def test_a_long_first_cue_is_heard_for_its_first_minutes(with_preview, tmp_path, monkeypatch):
    """A first cue longer than MAX_SEC is heard for its first MAX_SEC (its music, WAV and loudness
    arrays bounded whatever its length), still the final's samples times one factor."""
    import tempscore.render.preview as preview
    from tempscore.api.files import speech_regions_for
    from tempscore.cache import StageCache

    res, _, final, sr = with_preview
    monkeypatch.setattr(preview, "MAX_SEC", 2.0)
    cache_dir = tmp_path / "cache"
    shutil.copytree(res.project.cache_dir, cache_dir)
    speech, _ = speech_regions_for(res.timeline, res.project.analysis)
    m = first_cue_music(res.project.midi, res.timeline, settings=RenderSettings(stems=True), speech=speech,
                        cache=StageCache(cache_dir))
    assert len(m.audio) == 2 * sr and m.end_sec == 2.0 and m.cue_id == res.timeline.cues[0].id
    factor_db, worst = gain_matched(m.audio, final[: 2 * sr])
    assert worst <= 1.5, (factor_db, worst)
