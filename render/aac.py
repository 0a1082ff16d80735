"""AAC encoding of float audio in this process (PyAV), for the scored video's tracks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..media import ff_path

__all__ = ["encode_array"]


def encode_array(audio: np.ndarray, dest: Path, *, sr: int, bitrate: str, stop: threading.Event,
                  progress: Callable[[int], None] | None = None) -> None:
    """Encode float audio ``(n, channels)`` to AAC in ``dest`` (.m4a) with PyAV (libavcodec in this
    process; it releases the GIL, so tracks encode side by side in threads); ``progress(samples)``
    after each block, with how many it encoded."""
    import errno

    import av

    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    layout = {1: "mono", 2: "stereo"}.get(x.shape[1])
    if layout is None:
        raise ValueError(f"{x.shape[1]} channels: only mono or stereo tracks are encoded")
    rate = int(float(bitrate.rstrip("kK")) * 1000) if bitrate[-1:] in "kK" else int(bitrate)
    try:
        with av.open(ff_path(dest), "w") as c:
            st = c.add_stream("aac", rate=sr, layout=layout)
            st.bit_rate = rate
            # "fast" AAC coder: about twice the speed of the default two-loop search, transparent at 256 kb/s
            st.codec_context.options = {"aac_coder": "fast"}
            step = 1 << 15
            for i in range(0, len(x), step):
                if stop.is_set():
                    return
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i : i + step].T), format="fltp",
                                                   layout=layout)
                frame.sample_rate = sr
                frame.pts = i
                for packet in st.encode(frame):
                    c.mux(packet)
                if progress is not None:
                    progress(frame.samples)
            for packet in st.encode(None):
                c.mux(packet)
    except OSError as exc:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            from ..errors import OutputError

            raise OutputError(f"could not write the audio track for {dest.parent.parent}: {exc.strerror}; "
                              f"free space or choose another -o") from exc
        raise
