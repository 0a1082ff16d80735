"""Mux the score onto the picture with ffmpeg: video stream copied bit for bit, never re-encoded."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..fileio import atomic_path, temp_prefix
from ..media import (
    PRODUCTION_TRACK_TITLE,
    ff_path,
    ffmpeg_exe,
    ffmpeg_not_started,
    production_audio_streams,
    run_ffmpeg,
    stream_title,
)
from .aac import encode_array

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream

    from ..cache import StageCache

log = logging.getLogger(__name__)

#: Which audio tracks the scored video gets (the production audio streams are always copied after them):
MUX_MODES: dict[str, str] = {
    "all": "score + production mix (default track), score only, production audio (original)",
    "separate": "score only (default track), production audio (original)",
    "mixed": "score + production mix (default track), production audio (original)",
}


#: Scored videos whose index (moov) is moved to the front, so that a browser or a review site
#: plays them while they load. Not .mov: editing applications read local files, and moving the
#: index rewrites the whole file a second time (a 1.5 GB picture: +1.5-2.3 s per render).
FASTSTART_EXTS = (".mp4", ".m4v")

#: Containers the scored video keeps from the rough cut: they hold whatever streams it holds.
KEEP_CONTAINER = {".mp4", ".m4v", ".mov", ".mkv"}
#: Otherwise the first of these that lists the video and original audio codecs as supported (plus
#: our AAC tracks), else .mkv. MP4 is left out when the original audio is PCM, which editing
#: applications read from QuickTime files but not from MP4.
FALLBACK_CONTAINERS = ((".mp4", "mp4"), (".mov", "mov"))


def scored_extension(video: Path) -> str:
    """Extension (container) of the scored video for ``video``: the rough cut's own for .mp4, .m4v,
    .mov and .mkv; else (MXF, AVI, MPEG-TS, WMV, FLV, ...) the first of .mp4, .mov whose
    muxer lists its codecs as supported, subtitles included (libavformat's strict
    ``avformat_query_codec``, through PyAV, then the header written to memory), else .mkv, whose muxer stores the rest (WMV2, FLV1)
    in compatibility mode: DNxHD from an Avid MXF gets a .mov, VP9 from a WebM an .mp4."""
    ext = Path(video).suffix.lower()
    if ext in KEEP_CONTAINER:
        return ext
    import av

    with av.open(ff_path(video)) as src:
        vs = [s for s in src.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)][:1]
        audio = production_audio_streams(src)
        subs = list(src.streams.subtitles)  # a container that loses them is not chosen
        pcm = any((s.codec_context.name or "").startswith("pcm_") for s in audio)
        for cand, fmt in FALLBACK_CONTAINERS:
            if fmt == "mp4" and pcm:
                continue
            refused = _refused_by(fmt, vs + audio + subs, with_aac=True)
            if refused is None:
                return cand
            log.debug("%s: the %s muxer refuses these streams (%s)", video, fmt, refused)
    return ".mkv"


def _refused_by(fmt: str, streams: list[Stream], *, with_aac: bool = False) -> Exception | None:
    """Why the ``fmt`` muxer refuses copies of ``streams`` (plus one of our AAC tracks with
    ``with_aac``), tried on a header written to memory; None when it takes them."""
    import io

    import av

    try:
        with av.open(io.BytesIO(), "w", format=fmt) as out:
            for st in streams:
                out.add_stream_from_template(st)
            if with_aac:
                out.add_stream("aac", rate=48000, layout="stereo")
            out.start_encoding()
    except (av.error.FFmpegError, ValueError, TypeError) as exc:
        return exc
    return None


def video_offset_sec(video: Path) -> float:
    """Seconds from the container's start to the first frame of the first video stream.

    ffmpeg shifts an input so that its earliest stream starts at 0; new audio inputs start at 0
    too, so they are delayed by this much to start exactly with the first video frame.
    """
    import av

    with av.open(ff_path(video)) as c:
        return _video_offset(c)


def _video_offset(c: InputContainer) -> float:
    """:func:`video_offset_sec` of an open container."""
    from fractions import Fraction

    if not c.streams.video:
        return 0.0
    v = c.streams.video[0]
    if v.start_time is None:
        return 0.0
    v_start = float(v.start_time * Fraction(v.time_base))
    starts = [float(st.start_time * Fraction(st.time_base)) for st in c.streams
              if st.start_time is not None and st.time_base is not None and st.type in ("video", "audio")]
    return max(0.0, v_start - min(starts, default=v_start))


Track = tuple["Path | np.ndarray", str]


def encode_aac(source: Path, dest: Path, *, bitrate: str = "256k") -> subprocess.Popen:
    """Start ffmpeg encoding the WAV file ``source`` to AAC in ``dest`` (.m4a); wait with
    :func:`_finish`. (Arrays are encoded in this process: :func:`encode_array`.)"""
    # "fast" AAC coder: about twice the speed of the default two-loop search, transparent at 256 kb/s
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", ff_path(source),
           "-c:a", "aac", "-aac_coder", "fast", "-b:a", bitrate, str(dest)]
    log.debug("ffmpeg: %s", " ".join(cmd))
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        raise ffmpeg_not_started(cmd[0], exc) from exc


def _finish(proc: subprocess.Popen, what: str) -> None:
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.wait()
    if proc.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-3:])
        if "No space left on device" in err or "Read-only file system" in err:
            from ..errors import OutputError

            raise OutputError(f"ffmpeg could not write while {what}: {tail}; free space or choose another -o")
        raise RuntimeError(f"ffmpeg failed while {what}: {tail}")


class TrackEncoder:
    """AAC-encodes float tracks in background threads from the moment each is final, into a
    temporary folder beside the output (removed on exit); :func:`mux` waits for them.

    The render hands over the music as soon as its loudness is set, so on two CPUs it is encoded
    while the production mix, its limiter and the WAV are computed (on a 10-minute film that is
    most of one track's encoding off the critical path). Leaving the ``with`` block early (an error,
    Ctrl+C) stops the encoders at their next block and removes what they wrote.
    """

    def __init__(self, out: Path, *, sr: int, bitrate: str = "256k", cache: StageCache | None = None,
                 progress: Callable[[str, float, float], None] | None = None) -> None:
        import tempfile
        from concurrent.futures import ThreadPoolExecutor

        self.sr, self.bitrate = int(sr), bitrate
        self.progress = progress  # ("encoding audio", seconds encoded, seconds submitted), from the encoders' threads
        self._counted = [0, 0]  # samples encoded, samples submitted
        self.expected_samples = 0  # what the caller expects to submit in all (the bar's total from the start)
        self._count_lock = threading.Lock()
        self.cache = cache  # StageCache: named tracks are spliced into their previous encode (aacsplice)
        self.reports: dict[str, dict] = {}
        try:  # the output folder may not exist yet (`render -o NEW_DIR`)
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            self._tmp = tempfile.TemporaryDirectory(prefix=temp_prefix(Path(out), "tracks-"), dir=Path(out).parent)
        except OSError as exc:
            from ..errors import OutputError

            raise OutputError(f"cannot write to {Path(out).parent}: {exc.strerror or exc}; choose another output "
                              f"directory with -o") from exc
        self._pool = ThreadPoolExecutor(max_workers=max(1, _cpus()))
        self._stop = threading.Event()
        self._jobs: dict[int, tuple[np.ndarray, object, Path]] = {}

    @property
    def folder(self) -> Path:
        """The temporary folder the encoded tracks go to (removed on exit)."""
        return Path(self._tmp.name)

    def submit(self, audio: np.ndarray, slot: str | None = None) -> None:
        """Start encoding ``audio`` ``(n, channels)`` (it must not change afterwards). ``slot``
        names the track across runs (``"music"``, ``"mix"``): with a cache, only the stretches
        that changed since the slot's last encode are encoded again."""
        if id(audio) in self._jobs:
            return
        dest = self.folder / f"track{len(self._jobs)}.m4a"
        tick = self._ticker(len(audio))
        if slot is not None and self.cache is not None:
            from .aacsplice import encode_track

            def job() -> None:
                self.reports[slot] = encode_track(audio, dest, sr=self.sr, bitrate=self.bitrate, stop=self._stop,
                                                  cache=self.cache, slot=slot, progress=tick)

            fut = self._pool.submit(job)
        else:
            fut = self._pool.submit(encode_array, audio, dest, sr=self.sr, bitrate=self.bitrate, stop=self._stop,
                                    progress=tick)
        self._jobs[id(audio)] = (audio, fut, dest)  # the array is kept: its id stays its own

    def _ticker(self, n: int) -> Callable[[int], None] | None:
        """Count ``n`` more samples to encode; the callback counts those encoded and reports."""
        if self.progress is None:
            return None
        with self._count_lock:
            self._counted[1] += n

        def tick(samples: int) -> None:
            with self._count_lock:
                self._counted[0] = min(self._counted[1], self._counted[0] + samples)
                done, total = self._counted
            total = max(total, self.expected_samples)
            self.progress("encoding audio", round(done / self.sr, 1), round(total / self.sr, 1))

        return tick

    def run(self, fn: Callable[..., object], *args: object, **kwargs: object) -> Future:
        """Run ``fn(*args, stop=<this encoder's stop event>, **kwargs)`` on the encoders' threads
        (e.g. writing the WAV beside the encoding); its result or error comes from the future."""
        return self._pool.submit(fn, *args, stop=self._stop, **kwargs)

    def result(self, audio: np.ndarray) -> Path:
        """The encoded ``.m4a`` of ``audio`` (submitted now if it was not), once written."""
        self.submit(audio)
        _, fut, dest = self._jobs[id(audio)]
        fut.result()  # type: ignore[attr-defined]
        return dest

    def __enter__(self) -> TrackEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # finished encoders ignore it; running ones stop at their next block
        self._pool.shutdown(wait=True)
        self._tmp.cleanup()


def mux(video: Path, tracks: list[Track], out: Path, *, keep_original_audio: bool = True,
        audio_bitrate: str = "256k", sr: int | None = None, encoder: TrackEncoder | None = None,
        ready: Callable[[], None] | None = None) -> Path:
    """Write ``out``: the video stream of ``video`` copied (never re-encoded), then the given audio
    tracks (AAC, starting with the first video frame), then the original audio streams, and the
    subtitles and cover pictures its container can hold, copied untouched.

    The tracks are encoded side by side (arrays in threads, with PyAV; WAV files by one ffmpeg
    each; as many at once as there are CPUs: ffmpeg's CLI runs its AAC encoders one after the
    other), then muxed with everything copied.

    Parameters
    ----------
    video : Path
        The user's rough cut (never modified).
    tracks : list of (source, title)
        New audio tracks in order; the first is the default track. A source is a WAV file or a
        float array ``(n, channels)`` at ``sr`` (no temporary WAV).
    out : Path
        Output file; the container follows its extension (.mp4, .mov, .mkv).
    sr : int, optional
        Sample rate of array sources, Hz.
    encoder : TrackEncoder, optional
        Where array tracks may already be encoding (started earlier by the caller); default: a
        new one, for this call.
    ready : callable, optional
        Called once every track is encoded, as the final mux starts.
    """
    video, out = Path(video), Path(out)
    if any(isinstance(src, np.ndarray) for src, _ in tracks) and sr is None and encoder is None:
        raise ValueError("sr is needed to encode an array")
    if encoder is None:
        with TrackEncoder(out, sr=int(sr or 0), bitrate=audio_bitrate) as enc:
            return mux(video, tracks, out, keep_original_audio=keep_original_audio, audio_bitrate=audio_bitrate,
                       sr=sr, encoder=enc, ready=ready)
    for src, _ in tracks:  # every array encoding before anything waits
        if isinstance(src, np.ndarray):
            encoder.submit(src)
    procs = []
    try:
        encoded: list[Path] = []
        for i, (src, title) in enumerate(tracks):
            if isinstance(src, np.ndarray):
                encoded.append(Path())  # filled below, after the WAV encoders have started
            else:
                dest = encoder.folder / f"wav{i}.m4a"
                procs.append((encode_aac(src, dest, bitrate=audio_bitrate), title))
                encoded.append(dest)
        for proc, title in procs:
            _finish(proc, f"encoding the audio track {title!r}")
        for i, (src, _) in enumerate(tracks):
            if isinstance(src, np.ndarray):
                encoded[i] = encoder.result(src)
    except BaseException:
        for proc, _ in procs:  # Ctrl+C or a failure: the ffmpeg encoders stop now (the threads on exit)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    if ready is not None:
        ready()
    _mux_encoded(video, [(enc, title) for enc, (_, title) in zip(encoded, tracks)], out,
                 keep_original_audio=keep_original_audio, scratch=encoder.folder)
    return out


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _muxer_format(out: Path) -> str:
    """The FFmpeg muxer that writes the scored video ``out`` (by its extension; Matroska otherwise)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}.get(Path(out).suffix.lower(), "matroska")


def subtitle_streams_kept(c: InputContainer, out: Path) -> list[int]:
    """Indices of the subtitle streams of ``c`` that the scored video ``out`` copies: those its
    container holds (:func:`_refused_by`, as :func:`scored_extension` tries them). The others
    (DVB bitmaps in an MP4, say) are left out with a warning naming them."""
    fmt = _muxer_format(out)
    kept = []
    for st in c.streams.subtitles:
        if (refused := _refused_by(fmt, [st])) is not None:
            label = ", ".join(x for x in (st.codec_context.name, stream_title(st), st.language) if x)
            log.warning("subtitle stream %d (%s) left out: a %s file cannot hold it (%s)", st.index, label,
                        Path(out).suffix, refused)
            continue
        kept.append(st.index)
    return kept


#: Cover pictures a Matroska file holds as attachments (its muxer takes no image stream), by codec.
ATTACHMENT_MIMETYPES = {"png": "image/png", "mjpeg": "image/jpeg", "bmp": "image/bmp", "webp": "image/webp",
                        "gif": "image/gif"}


def cover_pictures_kept(c: InputContainer, out: Path) -> tuple[list[int], list[int]]:
    """The attached pictures (cover art) of ``c`` that the scored video ``out`` keeps: indices of
    those copied as streams (MP4, MOV), and of those written as attachments (Matroska, whose
    muxer takes no image stream). Any other is left out with a warning naming it."""
    import av

    fmt = _muxer_format(out)
    streams, attached = [], []
    for st in c.streams.video:
        if not st.disposition & av.stream.Disposition.attached_pic:
            continue
        if (refused := _refused_by(fmt, [st])) is None:
            streams.append(st.index)
        elif fmt == "matroska" and st.codec_context.name in ATTACHMENT_MIMETYPES:
            attached.append(st.index)
        else:
            log.warning("cover picture (stream %d, %s) left out: a %s file cannot hold it (%s)", st.index,
                        st.codec_context.name, Path(out).suffix, refused)
    return streams, attached


def _attachment_args(c: InputContainer, indices: list[int], folder: Path) -> list[str]:
    """ffmpeg arguments attaching the pictures of streams ``indices`` of ``c`` (each written to a
    file in ``folder``), with their file names and MIME types."""
    args: list[str] = []
    for j, index in enumerate(indices):
        st = c.streams[index]
        data = next((bytes(p) for p in c.demux(st) if p.size), b"")
        c.seek(0)
        mimetype = st.metadata.get("mimetype") or ATTACHMENT_MIMETYPES[st.codec_context.name]
        name = Path(st.metadata.get("filename") or f"cover{j}.{mimetype.split('/')[1]}").name
        path = folder / f"{j}-{name}"
        path.write_bytes(data)
        args += ["-attach", ff_path(path), f"-metadata:s:t:{j}", f"mimetype={mimetype}",
                 f"-metadata:s:t:{j}", f"filename={name}"]
    return args


def _picture_index(c: InputContainer) -> int | None:
    """Index of the picture itself: the first video stream that is not an attached picture."""
    import av

    return next((st.index for st in c.streams.video if not st.disposition & av.stream.Disposition.attached_pic), None)


def original_audio_titles(video: Path) -> list[str]:
    """Titles the scored video gives the picture's own audio streams, copied after the new tracks
    (their own titles, or :data:`~tempscore.media.PRODUCTION_TRACK_TITLE`)."""
    import av

    with av.open(ff_path(video)) as c:
        return [stream_title(st) or PRODUCTION_TRACK_TITLE for st in production_audio_streams(c)]


def _mux_encoded(video: Path, tracks: list[tuple[Path, str]], out: Path, *, keep_original_audio: bool,
                 scratch: Path) -> None:
    """The final mux: video, the encoded tracks and the original audio, all stream-copied.
    ``scratch``: a temporary folder (the encoder's) for the copies of covers to attach."""
    import av

    with av.open(ff_path(video)) as c:  # one look at the picture: its start, its own streams to copy
        offset = _video_offset(c)
        own = [(st.index, stream_title(st)) for st in production_audio_streams(c)] if keep_original_audio else []
        subs = subtitle_streams_kept(c, out)
        covers, attached = cover_pictures_kept(c, out)
        picture = _picture_index(c)
        attach = _attachment_args(c, attached, scratch)
    args: list[str] = ["-i", ff_path(video)]
    for m4a, _ in tracks:
        if offset > 0:  # sample 0 of our audio plays with the first video frame
            args += ["-itsoffset", f"{offset:.6f}"]
        args += ["-i", ff_path(m4a)]
    args += ["-map", f"0:{picture}" if picture is not None else "0:v:0"]
    for i, _ in enumerate(tracks, 1):
        args += ["-map", f"{i}:a:0"]
    for index, _ in own:  # the picture's own audio (a scored video's old score left out)
        args += ["-map", f"0:{index}"]
    for index in subs:  # then its subtitles, as they are
        args += ["-map", f"0:{index}"]
    for index in covers:  # and its cover art (video streams after the picture, marked as attached pictures)
        args += ["-map", f"0:{index}"]
    args += ["-c", "copy"]
    for k, _ in enumerate(covers, 1):
        args += [f"-disposition:v:{k}", "attached_pic"]
    args += attach
    for k, (_, title) in enumerate(own):  # their own titles stay (MP4 reads a title back as "name"); untitled: named
        j = len(tracks) + k
        args += [f"-metadata:s:a:{j}", f"title={title or PRODUCTION_TRACK_TITLE}", f"-disposition:a:{j}", "0"]
    for i, (_, title) in enumerate(tracks):
        args += [f"-metadata:s:a:{i}", f"title={title}", f"-disposition:a:{i}", "default" if i == 0 else "0"]
    args += ["-map_metadata", "0", "-map_chapters", "0"]
    if out.suffix.lower() in FASTSTART_EXTS:
        args += ["-movflags", "+faststart"]
    with atomic_path(out, protect=(video,)) as tmp:
        run_ffmpeg([*args, ff_path(tmp)], what=f"muxing {out.name}")
