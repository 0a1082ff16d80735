"""Work of later stages done beside the analysis (api/_overlap.py): the render's production audio
made from the analysis' own decode, the generator loaded meanwhile; the same files as without."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tempscore.api import score


def _hashes(out: Path, stem: str) -> dict[str, str]:
    import av

    got = {s: hashlib.sha256((out / f"{stem}{s}").read_bytes()).hexdigest() for s in (".score.mid", ".score.wav")}
    with av.open(str(out / f"{stem}.scored.mp4")) as v:
        got["audio packets"] = hashlib.sha256(b"".join(bytes(p) for p in v.demux(*v.streams.audio) if p.size)).hexdigest()
    return got


def test_the_render_mixes_the_sound_the_analysis_decoded(clip25, tmp_path, monkeypatch):
    """``score`` decodes the production audio once: the render finds the analysis' rendition in its
    cache (a decode of its own would fail here), and every output is what a render that decodes the
    sound itself writes (a second run from the same analysis without that entry)."""
    import tempscore.vision.audio as audio

    first = tmp_path / "once"
    real_read = audio.read_audio
    monkeypatch.setattr(audio, "read_audio", lambda *a, **k: pytest.fail("the render decoded the sound again"))
    r = score(clip25.path, first, seed=2)
    monkeypatch.setattr(audio, "read_audio", real_read)
    assert len(list((Path(r.project.cache().root) / "production").glob("*.npy"))) == 1
    second = tmp_path / "twice"
    score(clip25.path, second, seed=2)
    made = list((second / f"{clip25.path.stem}.cache" / "production").glob("*.npy"))
    assert len(made) == 1
    made[0].unlink()  # the render decodes the sound itself
    (second / f"{clip25.path.stem}.score.wav").unlink()  # not up to date: rendered again
    score(clip25.path, second, seed=2, replan=False)
    assert _hashes(first, clip25.path.stem) == _hashes(second, clip25.path.stem)
