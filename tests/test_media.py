"""Finding the ffmpeg binary: the wheel's, or the one the user names; one clear error when it does not run."""

import subprocess

import pytest
from tempscore.errors import ToolMissing
from tempscore.media import ffmpeg_exe, run_ffmpeg


def test_bundled_binary_found_without_running_it(monkeypatch):
    monkeypatch.delenv("TEMPSCORE_FFMPEG", raising=False)
    monkeypatch.delenv("IMAGEIO_FFMPEG_EXE", raising=False)
    import imageio_ffmpeg

    exe = ffmpeg_exe()
    assert exe == imageio_ffmpeg.get_ffmpeg_exe()  # the same binary imageio-ffmpeg's own look-up validates
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ffmpeg version")


@pytest.mark.parametrize("var", ["TEMPSCORE_FFMPEG", "IMAGEIO_FFMPEG_EXE"])
def test_named_binary_wins(monkeypatch, tmp_path, var):
    monkeypatch.delenv("TEMPSCORE_FFMPEG", raising=False)
    monkeypatch.setenv(var, str(tmp_path / "my-ffmpeg"))
    assert ffmpeg_exe() == str(tmp_path / "my-ffmpeg")


def test_binary_that_does_not_run_is_one_clear_error(monkeypatch, tmp_path):
    broken = tmp_path / "ffmpeg"
    broken.write_bytes(b"\x00not an executable")
    broken.chmod(0o755)
    monkeypatch.setenv("TEMPSCORE_FFMPEG", str(broken))
    with pytest.raises(ToolMissing, match="could not be started.*TEMPSCORE_FFMPEG"):
        run_ffmpeg(["-version"], what="testing")
    monkeypatch.setenv("TEMPSCORE_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(ToolMissing, match="could not be started"):
        run_ffmpeg(["-version"], what="testing")
