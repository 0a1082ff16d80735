"""File-level stages: each reads the previous stage's file and writes its own, atomically.

The CLI is a thin layer over these; tests and other tools can call them directly.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .contracts import (ANALYSIS_SCHEMA, TIMELINE_SCHEMA, Analysis, Timeline, read_stage, to_json)
from .errors import BadStageFile, OutputError
from .fileio import write_text_atomic

log = logging.getLogger(__name__)

STAGE_SUFFIXES = (".analysis.json", ".timeline.json", ".score.mid", ".score.wav", ".sync.csv", ".sync.json",
                  ".ratings.json")


def stem_of(path: Path) -> str:
    """``cut.timeline.json`` -> ``cut``; ``cut.mp4`` -> ``cut``."""
    name = Path(path).name
    for suf in STAGE_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return Path(path).stem


#: Suffixes of files, not folders: ``-o cut.mp4`` is taken for a mistake, not a folder to create.
FILE_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v", ".avi", ".mxf", ".webm", ".wav", ".aif", ".aiff", ".mp3",
                 ".m4a", ".mid", ".midi", ".json", ".csv", ".edl", ".otio", ".png"}


#: The longest suffix of an output named after the input (``--stems``: ``<stem>.stem-percussion.wav``).
LONGEST_OUTPUT_SUFFIX = ".stem-percussion.wav"


def output_dir(input_path: Path, out: Path | None) -> Path:
    """The output folder: ``out``, else the folder of the input as given (a symlinked video's
    outputs go beside the link, in the project, not beside the media it points to). ``out``
    naming a file, or a name that looks like one (``-o final.mp4``, not there yet), is refused:
    outputs are named after the input."""
    d = Path(out) if out else Path(os.path.abspath(input_path)).parent
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: exists and is not a directory; give -o a directory")
    if out and not d.exists() and d.suffix.lower() in FILE_SUFFIXES:
        raise OutputError(f"-o {d}: looks like a file name; -o takes a folder (the outputs are named after the "
                          f"input, e.g. <stem>.scored.mp4)")
    from .fileio import NAME_MAX

    longest = f"{stem_of(Path(input_path))}{LONGEST_OUTPUT_SUFFIX}"
    if len(os.fsencode(longest)) > NAME_MAX:  # found now, not as an OSError halfway through the run
        raise OutputError(f"{Path(input_path).name}: name too long for the outputs named after it ({longest[:12]}... "
                          f"is {len(os.fsencode(longest))} bytes, file systems take {NAME_MAX}); give it a shorter name")
    return d


#: Output names of a project besides ``STAGE_SUFFIXES``: ``<stem>.timeline.png``, ``.edl``, ``.otio``.
_OTHER_OUTPUT_SUFFIXES = (".timeline.png", ".edl", ".otio")


def is_project_output(name: str, stem: str) -> bool:
    """Whether the file name ``name`` is one tempscore writes for the project ``stem``
    (``cut.scored.mp4``, ``cut.stem-strings.wav``: yes for ``cut``; ``cut.scored.analysis.json``,
    project ``cut.scored``'s: no)."""
    import re

    if not name.startswith(f"{stem}."):
        return False
    rest = name[len(stem):]
    return (rest in STAGE_SUFFIXES or rest in _OTHER_OUTPUT_SUFFIXES
            or re.fullmatch(r"\.scored\.[A-Za-z0-9]+|\.stem-[a-z]+\.wav", rest) is not None)


def sweep_leftovers(d: Path, stem: str) -> int:
    """Remove what a run of project ``stem`` killed outright (SIGKILL, out of memory: no cleanup
    ran) left in ``d``: hidden temporary outputs and track folders. Only safe while holding
    :func:`project_lock`, when no other run of the project is writing. Returns the bytes freed."""
    import shutil

    from .fileio import leftovers

    freed = 0
    for p in leftovers(Path(d), lambda target: is_project_output(target, stem)):
        try:
            if p.is_dir() and not p.is_symlink():
                freed += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                shutil.rmtree(p)
            else:
                freed += p.lstat().st_size
                p.unlink()
        except OSError as exc:
            log.debug("could not remove %s: %s", p, exc)
            continue
        log.info("removed %s, left by an interrupted run", p.name)
    return freed


@contextlib.contextmanager
def project_lock(input_path: Path, out: Path | None = None):  # noqa: ANN201 - Iterator[None]
    """Hold the project's lock while a command writes its files: a second tempscore run on the same
    video and output folder (another terminal, a re-run started by mistake, a colleague's machine
    on the same shared drive) waits for this one, saying so, instead of writing the same files at
    the same time (twice the work, a scored video from one run beside a timeline from the other,
    and one run's clean-up removing the other's files being written).

    Two locks, taken in turn:

    - an advisory ``flock`` on a file in the user's runtime folder (``$XDG_RUNTIME_DIR``, else the
      temp folder), named by a hash of the output folder and the stem: it holds for a folder that
      does not exist yet or is read-only, and between threads of one process;
    - where the project has been run in the output folder before (its ``<stem>.cache/`` is
      there) and that can be written, a POSIX record lock (``lockf``, which NFS and SMB mounts
      pass to the server) on ``<stem>.cache/run.lock``, holding the holder's pid and host name:
      it holds between users and machines. A file system without locks (``ENOLCK``) runs with
      the first lock only. (Nothing is made for it otherwise: a refused input leaves nothing.)

    Both go with the process however it ends. Once they are held, what a run killed outright left
    behind is removed (:func:`sweep_leftovers`). ``input_path`` is any of the project's files
    (the video, ``<stem>.analysis.json``, ``.timeline.json``, ``.score.mid``).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    import hashlib
    import tempfile

    d = os.path.realpath(output_dir(input_path, out))
    stem = stem_of(Path(input_path))
    name = hashlib.sha1(os.fsencode(f"{d}\0{stem}")).hexdigest()[:20]  # any bytes a file name may hold
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"tempscore-{os.getuid()}"
    with contextlib.ExitStack() as held:
        try:
            base.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(base / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # no writable runtime folder: run unlocked rather than not at all
            log.debug("no project lock (%s)", exc)
            fd = None
        if fd is not None:
            held.callback(os.close, fd)  # closing releases the lock
            _lock_waiting(fd, lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                          lambda: fcntl.flock(fd, fcntl.LOCK_EX), stem, d)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        shared = _shared_lock(Path(d), stem, fcntl)
        if shared is not None:
            held.callback(os.close, shared)
        freed = sweep_leftovers(Path(d), stem)  # no run of this project is writing now
        if freed:
            log.warning("removed %.1f MB of temporary files an interrupted run of %s left in %s", freed / 2**20,
                        stem, d)
        yield


def _lock_waiting(fd: int, try_lock, lock, stem: str, d: str) -> None:  # noqa: ANN001 - callables
    """``try_lock()``; when another process holds the lock, say who (the pid, and the host, that
    the file holds) and wait with ``lock()``."""
    try:
        try_lock()
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        who = ""
        if holder and holder[0].isdigit():
            who = f" (pid {holder[0]}{f' on {holder[1]}' if len(holder) > 1 else ''})"
        log.warning("another tempscore run%s is writing %s's files in %s; waiting for it to finish", who, stem, d)
        lock()


def _shared_lock(d: Path, stem: str, fcntl) -> int | None:  # noqa: ANN001 - the fcntl module
    """The lock in the output folder itself (see :func:`project_lock`), held; its descriptor, or
    None where there is none (no such folder yet, read-only, no locks on that file system)."""
    import socket

    path = cache_folder(d, stem) / "run.lock"
    if not path.parent.is_dir():  # a project not run here before: nothing is made for the lock (a bad input leaves nothing)
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        log.debug("no lock in %s (%s)", d, exc)
        return None
    with contextlib.suppress(OSError):  # whoever made it lets colleagues lock it too (it holds a pid and a host)
        os.fchmod(fd, 0o666)
    try:
        _lock_waiting(fd, lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                      lambda: fcntl.lockf(fd, fcntl.LOCK_EX), stem, str(d))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError as exc:  # ENOLCK (no lock manager), or the write refused: the local lock still holds
        log.debug("no lock in %s (%s)", d, exc)
        os.close(fd)
        return None
    return fd


def cache_folder(d: Path, stem: str) -> Path:
    """The project's cache folder, ``<dir>/<stem>.cache/``."""
    return Path(d) / f"{stem}.cache"


def stage_cache(d: Path, any_stage_file: Path):  # noqa: ANN201 - StageCache
    """The project's per-cue cache, ``<dir>/<stem>.cache/`` (safe to delete)."""
    from .cache import StageCache

    return StageCache(cache_folder(d, stem_of(any_stage_file)))


@dataclass
class StageResult:
    """What a stage wrote and a summary for ``--json``."""

    outputs: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)


@dataclass
class Warm:
    """What ``score --watch`` keeps loaded between runs: the generator, the soundfonts and the
    analysis (while neither the video nor the analysis file changes)."""

    fonts: dict = field(default_factory=dict)
    generators: dict = field(default_factory=dict)
    analysis: tuple | None = None  # (identities of the video and the analysis file, Analysis, StageResult)

    def analyze(self, video: Path, out: Path | None = None, **kw) -> tuple[Analysis, StageResult]:  # noqa: ANN003
        """:func:`run_analyze`, or its last result when the video and ``<stem>.analysis.json`` are the
        files it saw (same inode, size and modification time): no probe, no parse (0.04 s on the
        sample, 0.13 s on a 10-minute film, per re-run)."""
        def ident(p: Path) -> tuple | None:
            try:
                st = Path(p).stat()
            except OSError:
                return None
            return (str(Path(p).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)

        if self.analysis is not None and not kw.get("force"):
            (v_id, a_id), analysis, res = self.analysis
            if v_id == ident(video) and a_id == ident(Path(res.outputs["analysis"])) and v_id is not None:
                return analysis, StageResult(outputs=dict(res.outputs), summary={**res.summary, "cached": True})
        analysis, res = run_analyze(video, out, **kw)
        self.analysis = ((ident(video), ident(Path(res.outputs["analysis"]))), analysis, res)
        return analysis, res

    def generator_for(self, composer: str, quantized: bool):  # noqa: ANN201 - Generator | None
        """The generator ``compose`` would load for these options (loaded once), or None for rules."""
        from .models.generator import DEFAULT_CHECKPOINT, Generator

        if composer == "rules" or (composer == "auto" and not DEFAULT_CHECKPOINT.is_file()):
            return None
        if quantized not in self.generators:
            self.generators[quantized] = Generator.load(quantized=quantized)
        return self.generators[quantized]


def watch_files(timeline_path: Path) -> list[Path]:
    """The files a user edits between runs: ``<stem>.timeline.json`` and ``<stem>.ratings.json``."""
    from .models.preferences import ratings_path

    return [Path(timeline_path), ratings_path(Path(timeline_path))]


def run_analyze(video: Path, out: Path | None = None, *, force: bool = False, progress=None,  # noqa: ANN001
                settings=None) -> tuple[Analysis, StageResult]:  # noqa: ANN001
    """Analyse ``video`` and write ``<stem>.analysis.json``; reuse it when the video's content hash matches."""
    from .vision import AnalyzeSettings, analyze, probe

    video = Path(video)
    info = probe(video, note_scored_before=True)  # fails fast (exit 2) before anything is written
    d = output_dir(video, out)
    path = d / f"{stem_of(video)}.analysis.json"
    cached = False
    analysis: Analysis | None = None
    s = settings or AnalyzeSettings()
    key = {k: v for k, v in asdict(s).items() if k != "allow_download"}
    from .vision.shots import resolve_method

    # the detector "auto" chose here (classic on CPU, combined with a GPU): an analysis made on one
    # machine is not reused as if the other method had run
    key["shot_detector"] = resolve_method(s.shot_detector)
    from .vision.analyze import MEASURES

    key["measures"] = MEASURES  # an analysis measured another way (per frame, before) is made again
    picture = picture_dir(d, video)
    if path.is_file():
        try:
            old = read_stage(path, Analysis, ANALYSIS_SCHEMA)
        except BadStageFile:
            old = None
        if old is not None:
            refuse_other_videos_file(path, old.video, video, info.content_hash)
            if (not force and old.video.content_hash == info.content_hash and old.tempscore_version == __version__
                    and old.settings == key and old.video.production_audio == info.production_audio):
                analysis, cached = old, True
            elif old.video.content_hash and old.video.content_hash != info.content_hash:
                # a recut: the old cut's analysis is what its timeline's edits are conformed from
                with contextlib.suppress(OSError):
                    write_text_atomic(picture / f"{old.video.content_hash}.analysis.json", path.read_text(),
                                      protect=(video,))
    if analysis is None:
        prints: list = []
        analysis = analyze(video, settings=s, progress=progress, fingerprint_out=prints)
        analysis.settings = key
        if prints and info.content_hash:
            _save_fingerprint(picture / f"{info.content_hash}.fingerprint.npz", prints[0], protect=(video,))
        write_text_atomic(path, to_json(analysis), protect=(video,))
    res = StageResult(outputs={"analysis": str(path)}, summary={
        "cached": cached, "frames": analysis.video.frame_count,
        "fps": f"{analysis.video.fps_num}/{analysis.video.fps_den}", "duration_sec": analysis.video.duration_sec,
        "cuts": len(analysis.cuts), "shots": len(analysis.shots), "emotion_source": analysis.emotion_source,
        "production_audio": analysis.video.production_audio if analysis.audio.present else False})
    return analysis, res


def picture_dir(d: Path, any_stage_file: Path) -> Path:
    """``<stem>.cache/picture/``: per version of the cut (content hash), its picture fingerprint and,
    once it has been replaced by a recut, its analysis: what a recut's edits are conformed from."""
    return cache_folder(d, stem_of(any_stage_file)) / "picture"


def _save_fingerprint(path: Path, fingerprint, *, protect: tuple[Path, ...]) -> None:  # noqa: ANN001 - np.ndarray
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, fingerprint=fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from .fileio import atomic_path

        with atomic_path(path, protect=protect) as tmp:
            tmp.write_bytes(buf.getvalue())
    except OSError as exc:  # only a recut's conform would miss it
        log.debug("could not keep the picture fingerprint %s (%s)", path, exc)


def load_fingerprint(path: Path):  # noqa: ANN201 - np.ndarray | None
    """A picture fingerprint kept by :func:`run_analyze`, or None."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            fp = z["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None
    return fp if fp.ndim == 2 and fp.dtype == np.uint8 else None


#: A recut shares at least this share of its frames with the version it replaces; less, and the
#: edits are not conformed (everything would read as cut out).
RECUT_MIN_SHARE = 0.1


def recut_map(folders: list[Path], previous: Timeline, analysis: Analysis):  # noqa: ANN201 - FrameMap | None
    """Where the frames of the cut ``previous`` was planned on are in ``analysis``'s cut (a recut),
    from what :func:`run_analyze` kept in the :func:`picture_dir` ``folders`` (the first that has
    it), or from the analysis file ``previous`` names when it is still that cut's; None when none
    is left."""
    from .scoring.conform import match_pictures

    old_hash, new_hash = previous.video.content_hash, analysis.video.content_hash
    old = None
    for path in [f / f"{old_hash}.analysis.json" for f in folders] + [Path(previous.analysis_path or "")]:
        if not path.name or not path.is_file():
            continue
        try:
            old = read_stage(path, Analysis, ANALYSIS_SCHEMA)
        except BadStageFile:
            continue
        if old.video.content_hash == old_hash:
            break
        old = None
    if old is None:
        return None

    def fingerprint(content_hash: str):  # noqa: ANN202
        return next((fp for f in folders if (fp := load_fingerprint(f / f"{content_hash}.fingerprint.npz")) is not None),
                    None)

    return match_pictures(old, analysis, old_fingerprint=fingerprint(old_hash), new_fingerprint=fingerprint(new_hash))


def refuse_other_videos_file(path: Path, recorded, video: Path, content_hash: str) -> None:  # noqa: ANN001
    """Refuse to overwrite ``path`` (a stage file made for the ``recorded`` VideoInfo) when it was
    made for another picture that is still there: two videos with the same stem in one folder
    (``a.mp4``, ``a.mov``) would share their outputs, and the other's plan and edits would be
    lost. Not refused: the same content (a copy), a recut (the same path, new content), a moved
    project (the recorded video gone)."""
    if not recorded.path or recorded.content_hash == content_hash:
        return
    rec, video = Path(recorded.path), Path(video)
    try:
        if rec.resolve() == video.resolve() or not rec.exists() or rec.samefile(video):
            return
    except OSError:
        return
    raise OutputError(f"{path.name} in {path.parent} was made for {rec}, another video; its plan and outputs "
                      f"would be overwritten: write {video.name}'s elsewhere with -o DIR (or rename it)")


def _load_for_update(path: Path) -> tuple[Timeline, bytes | None]:
    """:func:`load_timeline`, and the bytes it parsed: a stage that writes the timeline back passes
    them as ``expect`` so a save made meanwhile is not overwritten."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        raw = None  # load_timeline says why
    return load_timeline(path, raw=raw), raw


def load_timeline(path: Path, *, raw: bytes | None = None) -> Timeline:
    """Read and validate a (possibly hand-edited) timeline (:func:`tempscore.scoring.validate.load_timeline`,
    every command's one check); bad fields give a one-line error naming them. ``raw``: the file's bytes, already read."""
    from .scoring.validate import load_timeline as load_checked

    return load_checked(Path(path), raw=raw)


def check_conform_from(path: Path, *, fresh: bool = False) -> None:
    """``--conform-from PATH``: a readable timeline, and not with ``--fresh`` (one line, exit 2, if not)."""
    from .errors import InvalidSettings

    if fresh:
        raise InvalidSettings("--conform-from takes the edits of an earlier version, --fresh drops all edits: "
                              "give one of them")
    if not Path(path).is_file():
        raise InvalidSettings(f"--conform-from {path}: file not found; give the earlier version's "
                              "<stem>.timeline.json")
    load_timeline(Path(path))


def run_plan(analysis_path: Path, out: Path | None = None, *, settings=None, fresh: bool = False,  # noqa: ANN001
             edl: bool = False, otio: bool = False, moods: list[str] = (), prompts: list[str] = (),
             reference: Path | None = None, picture: bool = True,
             conform_from: Path | None = None) -> tuple[Timeline, StageResult]:
    """Plan from ``<stem>.analysis.json``; write ``<stem>.timeline.json``, ``.sync.csv``, ``.sync.json``,
    ``.timeline.png`` (and ``.edl`` / ``.otio`` on request).

    An existing ``<stem>.timeline.json`` in the output directory is read first and the user's edits
    in it (locked cues, changed mood/key/tempo, added or deleted hit points) are kept, unless
    ``fresh``; planned on another version of the cut (a recut), they follow their picture
    (:mod:`tempscore.scoring.conform`). ``conform_from``: take the edits from this timeline of an
    earlier version instead (saved under another name, ``cut_v1.timeline.json``). ``picture``:
    draw ``<stem>.timeline.png`` (~0.05 s).
    """
    from .scoring import PlanSettings, plan
    from .scoring.edits import edits_not_kept
    from .scoring.report import sync_csv, sync_json, write_edl, write_otio

    analysis_path = Path(analysis_path)
    analysis = read_stage(analysis_path, Analysis, ANALYSIS_SCHEMA)
    d = output_dir(analysis_path, out)
    stem = stem_of(analysis_path)
    tl_path = d / f"{stem}.timeline.json"
    previous = None
    read_raw: bytes | None = None  # what we read: written back over only if nobody saved meanwhile
    folders = [picture_dir(d, analysis_path)]
    if conform_from is not None:
        conform_from = Path(conform_from)
        check_conform_from(conform_from, fresh=fresh)
        if conform_from.resolve() == tl_path.resolve():
            conform_from = None  # this project's own timeline: as without the option
        else:
            previous = load_timeline(conform_from)
            folders.append(picture_dir(conform_from.parent, conform_from))
            if tl_path.is_file():
                with contextlib.suppress(OSError):
                    read_raw = tl_path.read_bytes()
    if conform_from is None and tl_path.is_file():
        if fresh:  # the edits are ignored, but another video's plan is not replaced
            with contextlib.suppress(BadStageFile):  # an unreadable plan is simply replaced
                other = read_stage(tl_path, Timeline, TIMELINE_SCHEMA)
                refuse_other_videos_file(tl_path, other.video, Path(analysis.video.path), analysis.video.content_hash)
        else:
            previous, read_raw = _load_for_update(tl_path)
            refuse_other_videos_file(tl_path, previous.video, Path(analysis.video.path), analysis.video.content_hash)
    s = settings or PlanSettings()
    if reference is not None:  # measured now; kept in timeline.json for later re-plans
        from .scoring.reference import analyze_reference, follow_reference

        s.reference = analyze_reference(Path(reference)).to_dict()
        for line in follow_reference(s.reference)["not_followed"]:  # said once, when measured
            log.warning("--reference %s: %s", Path(reference).name, line)
    elif previous is not None and (previous.settings or {}).get("reference") and not s.reference:
        s.reference = dict(previous.settings["reference"])
    recut = None
    if previous is not None and previous.video.content_hash != analysis.video.content_hash:
        pv, nv = previous.video, analysis.video
        if (pv.fps_num, pv.fps_den) != (nv.fps_num, nv.fps_den):
            log.warning("%s was planned on a version of the cut at another frame rate (%s -> %s fps): its edits are "
                        "not conformed and stay on the same frame numbers; check them, or re-plan with --fresh",
                        (conform_from or tl_path).name, f"{pv.fps_num / pv.fps_den:.3f}".rstrip("0").rstrip("."),
                        f"{nv.fps_num / nv.fps_den:.3f}".rstrip("0").rstrip("."))
        elif (recut := recut_map(folders, previous, analysis)) is None:
            log.warning("%s was planned on another version of the cut, whose analysis is gone (deleted with the "
                        "%s.cache folder?): your edits stay on the same frame numbers; check them, or re-plan "
                        "with --fresh", (conform_from or tl_path).name, stem_of(conform_from or tl_path))
        elif recut.kept_frames < RECUT_MIN_SHARE * min(recut.old_frames, recut.new_frames):
            # next to nothing in common: another framing (letterbox, crop), or another film, not a recut
            log.warning("%s was planned on a version of the cut whose picture is not found in this one (%d of %d "
                        "frames; reframed, or another film?): its edits are not conformed and stay on the same "
                        "frame numbers; check them, or re-plan with --fresh", (conform_from or tl_path).name,
                        recut.kept_frames, recut.new_frames)
            recut = None
    timeline = plan(analysis, s, previous=previous, recut=recut)
    not_understood: list[str] = []
    if moods or prompts:  # command-line steering = edits of the timeline, kept like hand edits
        from .scoring.edits import apply_overrides

        not_understood = apply_overrides(timeline, moods=list(moods), prompts=list(prompts))
        timeline = plan(analysis, s, previous=timeline)
        if not_understood:
            log.warning("prompt words not understood (ignored): %s", ", ".join(not_understood))
    timeline.analysis_path = str(analysis_path.resolve())
    from .scoring.edits import silent_plan

    if (silent := silent_plan(timeline)) is not None:
        log.warning("%s", silent)
    protect = (Path(analysis.video.path),)
    outputs = {"timeline": str(tl_path)}
    write_text_atomic(tl_path, to_json(timeline), protect=protect, expect=read_raw)
    for key, suffix, text in (("sync_csv", ".sync.csv", sync_csv(timeline)), ("sync_json", ".sync.json", sync_json(timeline))):
        write_text_atomic(d / f"{stem}{suffix}", text, protect=protect)
        outputs[key] = str(d / f"{stem}{suffix}")
    if edl:
        write_edl(timeline, d / f"{stem}.edl", protect=protect)
        outputs["edl"] = str(d / f"{stem}.edl")
    if otio:
        write_otio(timeline, d / f"{stem}.otio", protect=protect)
        outputs["otio"] = str(d / f"{stem}.otio")
    if picture:
        outputs["timeline_png"] = str(draw_timeline_png(analysis, timeline, tl_path))
    fps = analysis.video.fps_num / analysis.video.fps_den
    from .scoring.leader import LEADER_CUE_ID, TAIL_CUE_ID

    # the programme's cuts (a leader's countdown and a tail leader are not scored)
    outside = [(c.start_frame, c.end_frame) for c in timeline.cues if c.id in (LEADER_CUE_ID, TAIL_CUE_ID)]
    hard = [c.frame for c in analysis.cuts if c.kind == "hard" and not any(a <= c.frame < b for a, b in outside)]
    kept = {h.frame for h in timeline.hit_points}
    on = sum(1 for h in timeline.hit_points if abs(h.offset_frames) <= 1.0)
    return timeline, StageResult(outputs=outputs, summary={
        "cues": [{"id": c.id, "start_sec": c.start_sec, "end_sec": c.end_sec, "mood": c.mood, "key": c.key,
                  "tempo_bpm": c.tempo_bpm, "intensity": c.intensity, "tacet": c.tacet} for c in timeline.cues],
        "hit_points": len(timeline.hit_points), "hits_within_1_frame": on,
        "hard_cuts_hit": f"{len(kept & set(hard))}/{len(hard)}", "suggestions": len(timeline.suggestions),
        **({"reference": _reference_summary(s)} if s.reference else {}),
        **({"two_pop": timeline.cues[0].why["two_pop"]["note"]} if "two_pop" in timeline.cues[0].why else {}),
        **({"tail_pop": timeline.cues[-1].why["tail_pop"]["note"]} if "tail_pop" in timeline.cues[-1].why else {}),
        "edits_kept": sorted(k for k, v in timeline.edits.items() if v), "fps": round(fps, 3),
        **({"conformed": timeline.edits["conformed"]} if recut is not None else {}),
        "prompt_not_understood": not_understood,
        "edits_not_kept": edits_not_kept(previous) if previous is not None else [],
        "emotion_source": timeline.emotion_source})


def timeline_png_path(timeline_path: Path) -> Path:
    """``<stem>.timeline.png`` beside ``<stem>.timeline.json``."""
    return Path(timeline_path).with_name(f"{stem_of(timeline_path)}.timeline.png")


def draw_timeline_png(analysis: Analysis, timeline: Timeline, timeline_path: Path) -> Path:
    """Draw :func:`timeline_png_path` (~0.05 s); returns its path."""
    from .scoring.picture import write_timeline_png

    return write_timeline_png(analysis, timeline, timeline_png_path(timeline_path), protect=(Path(analysis.video.path),))


VARIANT_SEED_BASE = 7919  # variant k of a cue gets seed VARIANT_SEED_BASE * k + the run's seed


def cue_tempo_map(timeline: Timeline, cue) -> list:  # noqa: ANN001 - Cue -> list[TempoEvent]
    """The cue's slice of the timeline's tempo map, shifted to start at 0 (ramps and meter changes
    kept), so an audition file has the cue's real bar grid."""
    from .contracts import TempoEvent

    events = sorted(timeline.tempo_map, key=lambda e: e.time_sec)
    at_start = [e for e in events if e.time_sec <= cue.start_sec + 1e-9]
    first = at_start[-1] if at_start else TempoEvent(0.0, cue.tempo_bpm, cue.beats_per_bar)
    out = [TempoEvent(0.0, first.bpm, first.beats_per_bar, bar_line=True)]
    for e in events:
        if cue.start_sec + 1e-9 < e.time_sec < cue.end_sec - 1e-9:
            out.append(TempoEvent(round(e.time_sec - cue.start_sec, 9), e.bpm, e.beats_per_bar, bar_line=e.bar_line))
    return out


def write_variants(timeline: Timeline, folder: Path, *, n: int, seed: int, composer: str, generator, sampling,  # noqa: ANN001
                   cache=None, preferences=None, cues: list[str] | None = None) -> dict[str, list[str]]:  # noqa: ANN001
    """For every cue that is not locked or tacet: ``n`` alternatives as ``<cue>.v<k>.mid`` and a listenable
    ``<cue>.v<k>.wav`` audition, plus ``manifest.json`` (cue -> seeds) that ``tempscore pick`` reads.

    ``cues`` (ids) limits it to those cues; the other cues' entries in an existing manifest are kept.

    An audition whose MIDI comes out byte-identical to the one its WAV was rendered from (recorded
    in the manifest with the WAV's size and modification time and the soundfont) is not rendered
    again: re-running ``score --variants 3`` after an edit renders only the auditions that changed.
    """
    import hashlib

    from .contracts import Score
    from .models.composer import compose_variants
    from .render.midi import write_midi
    from .render.mix import normalize_loudness, write_wav
    from .render.synth import default_soundfont, synthesize_midi

    protect = (Path(timeline.video.path),)
    manifest: dict[str, list[int]] = {}
    takes: dict[str, list[dict]] = {}  # cue -> the take of each variant (what pick stores)
    try:
        old = json.loads((folder / "manifest.json").read_text())
        if not isinstance(old, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        old = {}
    if cues is not None:
        try:
            manifest = {k: v for k, v in (old.get("seeds") or {}).items()
                        if k not in cues and any(c.id == k for c in timeline.cues)}
            takes = {k: v for k, v in (old.get("takes") or {}).items() if k in manifest}
        except AttributeError:
            manifest, takes = {}, {}
    rendered = old.get("auditions") if isinstance(old.get("auditions"), dict) else {}
    auditions: dict[str, dict] = {}
    font_id = _identity(default_soundfont())
    fonts: dict = {}  # soundfonts loaded once for all the auditions
    files: dict[str, list[str]] = {}
    for cue in timeline.cues:
        if cue.locked or cue.tacet or (cues is not None and cue.id not in cues):
            continue
        seeds = [VARIANT_SEED_BASE * k + seed for k in range(1, n + 1)]
        manifest[cue.id] = seeds
        for k, score in enumerate(compose_variants(timeline, cue.id, seeds, seed=seed, composer=composer,
                                                   generator=generator, sampling=sampling, cache=cache,
                                                   preferences=preferences), 1):
            parts = []
            for p in score.parts:
                notes = [type(x)(x.start_sec - cue.start_sec, min(x.end_sec, cue.end_sec) - cue.start_sec, x.pitch, x.velocity)
                         for x in p.notes if cue.start_sec - 1e-6 <= x.start_sec < cue.end_sec]
                if notes:
                    parts.append(type(p)(p.name, p.program, p.is_drum, notes))
            audition = Score(parts=parts, tempo_map=cue_tempo_map(timeline, cue), markers=[],
                             duration_sec=cue.end_sec - cue.start_sec, composer=score.composer, seed=seeds[k - 1])
            takes.setdefault(cue.id, []).append(score.takes.get(cue.id, {}))
            name = f"{cue.id}.v{k}"
            mid = write_midi(audition, folder / f"{name}.mid", protect=protect)
            record = {"midi_sha256": hashlib.sha256(mid.read_bytes()).hexdigest(), "soundfont": font_id,
                      "duration_sec": round(cue.end_sec - cue.start_sec + 1.0, 6)}
            wav = folder / f"{name}.wav"
            if rendered.get(name) != {**record, "wav": _file_state(wav)}:  # new notes, other font or length, WAV touched
                audio = synthesize_midi(mid, sr=48000, duration_sec=cue.end_sec - cue.start_sec + 1.0, cache=cache,
                                        fonts=fonts)
                audio, _ = normalize_loudness(audio, sr=48000, target_lufs=-23.0)
                wav = write_wav(wav, audio, sr=48000, protect=protect)
            auditions[name] = {**record, "wav": _file_state(wav)}
            files.setdefault(cue.id, []).append(str(wav))
    if cues is not None:  # the other cues' auditions stay as they were
        auditions = {**{k: v for k, v in rendered.items() if k.split(".v")[0] in manifest}, **auditions}
    write_text_atomic(folder / "manifest.json", json.dumps({"seeds": manifest, "takes": takes, "auditions": auditions}, indent=1),
                      protect=protect)
    return files



def run_pick(timeline_path: Path, cue_ref: str, variant: int) -> StageResult:
    """Keep variant ``variant`` (1-based) of a cue: its seed goes into timeline.json, so compose,
    render and later re-plans keep it."""
    from .errors import InvalidSettings
    from .scoring.edits import find_cue

    timeline_path = Path(timeline_path)
    timeline, read_raw = _load_for_update(timeline_path)
    i = find_cue(timeline, cue_ref)
    cue = timeline.cues[i]
    manifest = timeline_path.with_name(f"{stem_of(timeline_path)}.variants") / "manifest.json"
    if not manifest.is_file():
        raise InvalidSettings(f"{manifest}: no variants yet; run `tempscore compose {timeline_path} --variants 3` first")
    try:
        listed = json.loads(manifest.read_text())
        seeds = listed.get("seeds", {}).get(cue.id, [])
        takes = listed.get("takes", {}).get(cue.id, [])
    except (ValueError, AttributeError) as exc:
        raise InvalidSettings(f"{manifest}: unreadable ({exc}); run `tempscore compose {timeline_path} --variants 3` "
                              "again") from None
    if cue.tacet:
        raise InvalidSettings(f"cue {cue.id} is tacet (no music), so it has no variants; set \"tacet\": false on it "
                              f"in {timeline_path.name} and run `tempscore score` with --variants to hear some")
    if not seeds:
        raise InvalidSettings(f"cue {cue.id} has no variants (it was changed or added since); run `tempscore compose "
                              f"{timeline_path} --variants 3` again")
    if not 1 <= variant <= len(seeds):
        raise InvalidSettings(f"cue {cue.id} has variants 1..{len(seeds)}; {variant} does not exist")
    if cue.locked:  # its notes are kept (as Regenerate on the spotting page)
        raise InvalidSettings(f"cue {cue.id} is locked: its notes are kept; unlock it (\"locked\": false in "
                              f"{timeline_path.name}) to use another take")
    from .scoring.edits import take_problem

    take = takes[variant - 1] if len(takes) == len(seeds) else None
    was = (take.get("for") if isinstance(take, dict) else None) or {}
    moved = [k for k in ("key", "mood", "beats_per_bar", "beats") if k in was and was[k] != getattr(cue, k)]
    if moved:  # what was auditioned is not what the cue would play now: it would be written again
        what = ", ".join(f"{k.replace('_', ' ')} {was[k]} (now {getattr(cue, k)})" for k in moved)
        raise InvalidSettings(f"variant {variant} of cue {cue.id} was made for its {what}; audition new variants "
                              f"(`tempscore compose {timeline_path.name} --variants 3`) or change the cue back")
    cue.seed = int(seeds[variant - 1])
    # the melody auditioned, kept as it is (else written again from the seed at the next compose)
    cue.take = take if isinstance(take, dict) and take and take_problem(take) is None else {}
    write_text_atomic(timeline_path, to_json(timeline), protect=(Path(timeline.video.path),), expect=read_raw)
    return StageResult(outputs={"timeline": str(timeline_path)},
                       summary={"cue": cue.id, "variant": variant, "seed": cue.seed,
                                "next": "tempscore compose, then tempscore render (or tempscore score) to hear it in place"})


def _reference_summary(s) -> dict:  # noqa: ANN001 - PlanSettings
    from .scoring.reference import fold_tempo, follow_reference, register_bias

    ref = s.reference
    f = follow_reference(ref)
    return {"file": Path(ref["path"]).name, "tempo_bpm": ref["tempo_bpm"],
            "tempo_confidence": ref.get("tempo_confidence"), "beat_salience": ref.get("beat_salience"), "key": ref["key"],
            "key_confidence": ref["key_confidence"], "loudness_lufs": ref["loudness_lufs"],
            "brightness_hz": ref["brightness_hz"],
            "score_follows": {"tempo_target_bpm": round(fold_tempo(f["tempo_bpm"], bpm_min=s.bpm_min, bpm_max=s.bpm_max), 2)
                              if f["tempo_bpm"] is not None else None, "keys": f["keys"],
                              "melody_register": {-1: "lower", 0: "as planned", 1: "higher"}[register_bias(ref["brightness_hz"])],
                              "music_lufs_unless_--lufs": f["music_lufs"]},
            "not_followed": f["not_followed"]}


def midi_seed(midi_path: Path) -> int | None:
    """The composer seed recorded in a score MIDI file's conductor text ("..., seed N"), if any."""
    import re

    from .render.midi import conductor_texts

    for text in conductor_texts(midi_path) or []:
        m = re.search(r"seed (-?\d+)", text)
        if m:
            return int(m.group(1))
    return None
    for msg in mf.tracks[0] if mf.tracks else []:
        if msg.is_meta and msg.type == "text":
            m = re.search(r"seed (-?\d+)", msg.text)
            if m:
                return int(m.group(1))
    return None


def run_rate(timeline_path: Path, cue_ref: str, stars: int) -> StageResult:
    """Rate a cue 1..5 (stored in ``<stem>.ratings.json``): 4-5 keeps the take (seed pinned), 1-2
    asks for a new take (new seed); all ratings shift the conditioning of the other cues toward the
    liked settings at the next compose (see :mod:`tempscore.models.preferences`)."""
    from .errors import InvalidSettings
    from .models.composer import music_affect, steered_condition
    from .models.preferences import (REROLL_SEED_STEP, add_rating, load_ratings, preferences_from,
                                     ratings_path)
    from .scoring.edits import find_cue
    from .scoring.validate import SEED_MAX

    if not 1 <= int(stars) <= 5:
        raise InvalidSettings(f"rating {stars}: give 1..5 stars (5 = keep it, 1 = write a new one)")
    timeline_path = Path(timeline_path)
    timeline, read_raw = _load_for_update(timeline_path)
    cue = timeline.cues[find_cue(timeline, cue_ref)]
    if cue.tacet:
        raise InvalidSettings(f"cue {cue.id} is tacet (no music); un-tacet it in the timeline to rate its music")
    mid = timeline_path.with_name(f"{stem_of(timeline_path)}.score.mid")
    heard = cue.seed if cue.seed >= 0 else midi_seed(mid)
    if heard is None:
        raise InvalidSettings(f"{mid}: no composed score to rate yet; run `tempscore compose {timeline_path}` first")
    rp = ratings_path(timeline_path)
    before = preferences_from(load_ratings(rp))
    dens, reg = steered_condition(music_affect(cue), timeline, before)
    rows = add_rating(rp, {"cue_id": cue.id, "stars": int(stars), "mood": cue.mood, "key": cue.key,
                           "tempo_bpm": cue.tempo_bpm, "intensity": cue.intensity, "density_band": dens,
                           "register": reg, "orchestration": cue.orchestration, "seed": int(heard)})
    after = preferences_from(rows)
    if stars >= 4:
        cue.seed, action = int(heard), f"kept: seed {heard} pinned, later steering leaves it alone"
    elif stars <= 2 and cue.locked:  # a locked cue keeps its notes: the rating still steers the others
        action = "the cue is locked, so it keeps its notes; unlock it and rate it again for a new take"
    elif stars <= 2:
        cue.seed = (int(heard) + REROLL_SEED_STEP) % (SEED_MAX + 1)  # seeds are 32-bit
        action = f"new take at the next compose (seed {heard} -> {cue.seed})"
    else:
        action = "no change to this cue"
    write_text_atomic(timeline_path, to_json(timeline), protect=(Path(timeline.video.path),), expect=read_raw)
    changed = [c.id for c in timeline.cues if not (c.locked or c.tacet or c.id in after.kept)
               and steered_condition(music_affect(c), timeline, after) != steered_condition(music_affect(c), timeline, before)]
    return StageResult(outputs={"ratings": str(rp), "timeline": str(timeline_path)}, summary={
        "cue": cue.id, "stars": int(stars), "this_cue": action, "preferences_before": before.describe(),
        "preferences_now": after.describe(), "cues_that_will_change": changed,
        "next": "tempscore compose (or tempscore score) applies it"})


def run_compose(timeline_path: Path, out: Path | None = None, *, seed: int = 0, composer: str = "auto",
                quantized: bool = False, sampling=None, variants: int = 0,  # noqa: ANN001
                generator=None, progress=None) -> StageResult:  # noqa: ANN001
    """Compose from ``<stem>.timeline.json``; write ``<stem>.score.mid``. ``generator``: a loaded
    :class:`~tempscore.models.generator.Generator` to reuse (else loaded here). ``progress(phase,
    done, total)``: ``("writing cues", cues written, cues)``."""
    from .errors import InvalidSettings
    from .models import compose
    from .render.midi import write_midi

    if composer not in ("auto", "transformer", "rules"):
        raise InvalidSettings(f"--composer {composer!r} is unknown; use auto, transformer or rules")
    timeline_path = Path(timeline_path)
    timeline, read_raw = _load_for_update(timeline_path)
    from .scoring.edits import unplanned_edits

    if pending := unplanned_edits(timeline):  # the beat grid is the plan's: compose alone would ignore them
        analysis = Path(timeline.analysis_path).name if timeline.analysis_path else f"{stem_of(timeline_path)}.analysis.json"
        raise InvalidSettings(f"{timeline_path.name}: {'; '.join(pending)} edited since the plan; the beat grid is "
                              f"planned from them: run `tempscore plan {analysis}` (or `tempscore score` on the video) "
                              f"first")
    d = output_dir(timeline_path, out)
    if composer != "rules" and quantized and generator is None:
        from .models.generator import Generator

        generator = Generator.load(quantized=True)
    cache = stage_cache(d, timeline_path)
    from .models.preferences import load_ratings, preferences_from, ratings_path

    prefs = preferences_from(load_ratings(ratings_path(timeline_path)))
    score = compose(timeline, seed=seed, composer=composer, generator=generator, sampling=sampling, cache=cache,
                    preferences=prefs,
                    progress=(lambda k, n: progress("writing cues", k, n)) if progress is not None else None)
    if keep_takes(timeline, score, seed):  # locked cues pinned to this seed, chosen takes stored: for good
        write_text_atomic(timeline_path, to_json(timeline), protect=(Path(timeline.video.path),), expect=read_raw)
    mid = d / f"{stem_of(timeline_path)}.score.mid"
    write_midi(score, mid, timeline=timeline, protect=(Path(timeline.video.path),))
    variant_files: dict[str, list[str]] = {}
    if variants > 0:
        variant_files = write_variants(timeline, d / f"{stem_of(timeline_path)}.variants", n=variants, seed=seed,
                                       composer=composer, generator=generator, sampling=sampling, cache=cache,
                                       preferences=prefs)
    return StageResult(outputs={"midi": str(mid)}, summary={
        "composer": score.composer, "seed": seed, "parts": [p.name for p in score.parts],
        "notes": sum(len(p.notes) for p in score.parts), "cue_report": score.report,
        "preferences": prefs.describe(),
        **({"variants": variant_files} if variant_files else {})})


def keep_takes(timeline: Timeline, score, seed: int) -> bool:  # noqa: ANN001 - Score
    """Pin every locked cue to ``seed`` and store the take (melody) of every cue the user chose
    (locked, or with its own seed: picked, rated) that was written afresh in ``score``, so that
    edits of other cues never change it (:func:`tempscore.models.composer.kept_take`). Returns
    whether the timeline changed."""
    changed = False
    for c in timeline.cues:
        if c.locked and c.seed < 0:
            c.seed, changed = seed, True
        take = score.takes.get(c.id)
        if (c.locked or c.seed >= 0) and take is not None and c.take != take:
            c.take, changed = take, True
    return changed


def run_variants(timeline_path: Path, out: Path | None = None, *, cues: list[str], n: int = 3, seed: int = 0,
                 composer: str = "auto") -> StageResult:
    """Alternatives for some cues only (``<stem>.variants/``, as ``compose --variants`` writes them for
    every cue), with the same cache and ratings as :func:`run_compose`; ``tempscore pick`` keeps one."""
    from .models.preferences import load_ratings, preferences_from, ratings_path

    timeline_path = Path(timeline_path)
    timeline = load_timeline(timeline_path)
    d = output_dir(timeline_path, out)
    prefs = preferences_from(load_ratings(ratings_path(timeline_path)))
    files = write_variants(timeline, d / f"{stem_of(timeline_path)}.variants", n=n, seed=seed, composer=composer,
                           generator=None, sampling=None, cache=stage_cache(d, timeline_path), preferences=prefs,
                           cues=list(cues))
    return StageResult(outputs={"variants": str(d / f"{stem_of(timeline_path)}.variants")},
                       summary={"variants": files})


def read_duck_regions(path: Path) -> list[tuple[float, float]]:
    """Speech regions from a CSV file: two columns ``start_sec,end_sec`` (a header line and ``#``
    comments are allowed). Bad rows give a one-line :class:`InvalidSettings` naming the line."""
    import csv

    from .errors import InvalidSettings

    path = Path(path)
    if not path.is_file():
        raise InvalidSettings(f"--duck-regions {path}: file not found")
    out: list[tuple[float, float]] = []
    with path.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), 1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            try:
                a, b = float(cells[0]), float(cells[1])
            except (ValueError, IndexError):
                if i == 1 and not cells[0].replace(".", "", 1).lstrip("-").isdigit():  # a header line
                    continue
                raise InvalidSettings(f"{path}:{i}: expected two numbers start_sec,end_sec, got {','.join(row)!r}") from None
            if not (0 <= a < b):
                raise InvalidSettings(f"{path}:{i}: a region needs 0 <= start_sec < end_sec, got {a:g},{b:g}")
            out.append((a, b))
    return out


def speech_regions_for(timeline: Timeline, tl_path: Path) -> tuple[list[tuple[float, float]], str]:
    """Dialogue regions from the analysis the timeline was planned from (``audio.speech``), if any.

    Returns ``(regions, source)``; ``source`` names the file, or says why there are none.
    """
    candidates = [Path(timeline.analysis_path)] if timeline.analysis_path else []
    candidates.append(tl_path.with_name(f"{stem_of(tl_path)}.analysis.json"))
    for p in candidates:
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
                speech = (data.get("audio") or {}).get("speech") or []
                regions = [(float(r["start_sec"]), float(r["end_sec"])) for r in speech]
                regions = [(a, b) for a, b in regions if math.isfinite(a) and math.isfinite(b) and 0 <= a < b]
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                log.warning("%s: speech regions unreadable (%s); no ducking", p, exc)
                return [], f"{p.name}: unreadable"
            return regions, (p.name if regions else f"{p.name}: no speech regions")
    return [], "no analysis file"


class _OneBlasThread:
    """While any render runs in this process: one BLAS thread. A render's only matrix products are
    the audio fingerprints (aacsplice), in the encoders' threads, and OpenBLAS's idle threads
    spinning beside them slowed the encoders (~0.05 s of a 1 s re-render). BLAS threads are the
    process's, so renders in parallel threads (the spotting page's workers) share one limit: the
    first sets it, the last restores it."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._users = 0
        self._limits = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                from threadpoolctl import threadpool_limits

                self._limits = threadpool_limits(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._limits is not None:
                self._limits.restore_original_limits()
                self._limits = None


_ONE_BLAS_THREAD = _OneBlasThread()


def run_render(midi_path: Path, out: Path | None = None, *, timeline_path: Path | None = None,
               video: Path | None = None, settings=None, duck_regions: Path | None = None,  # noqa: ANN001
               fonts: dict | None = None, progress=None) -> StageResult:  # noqa: ANN001 - console.StageProgress
    """Render ``<stem>.score.mid`` to ``<stem>.score.wav`` (+ stems on request) and, when the
    picture is there, mux ``<stem>.scored.<ext>``.

    The timeline (cue edges, duration, video path) is read from ``timeline_path`` or from
    ``<stem>.timeline.json`` beside the MIDI file. Without the video (a composer working from the
    timeline and the MIDI alone) the audio is written and the mux skipped, with a message. The
    music ducks under the speech regions of ``duck_regions`` (CSV) or, else, of the analysis.
    ``progress(phase, done, total)``: how far it is (see :func:`tempscore.render.render_audio`;
    then ``"encoding audio"`` in seconds of tracks, and ``"muxing"``).
    """
    from .render import RenderSettings, mux, render_audio
    from .render.mix import write_wav

    midi_path = Path(midi_path)
    if not midi_path.is_file():
        raise BadStageFile(f"{midi_path}: file not found; run compose first")
    from .render.synth import check_midi_head

    check_midi_head(midi_path)  # before looking for the timeline beside it
    s = settings or RenderSettings()
    s.validate()
    from .cache import max_bytes_from_env

    cache_limit = max_bytes_from_env()  # a bad TEMPSCORE_CACHE_MAX_MB fails before anything is written
    stem = stem_of(midi_path)
    tl_path = Path(timeline_path) if timeline_path else midi_path.with_name(f"{stem}.timeline.json")
    timeline = load_timeline(tl_path)
    if video is not None and not Path(video).is_file():
        raise BadStageFile(f"{video}: video not found; check --video")
    src = Path(video) if video else Path(timeline.video.path)
    have_video = src.is_file()
    picture_note = ""
    if have_video and video:
        from .vision.probe import probe

        other = probe(src)  # a file that is not a video fails here, in one line
        frame_sec = timeline.video.fps_den / timeline.video.fps_num
        if abs(other.duration_sec - timeline.video.duration_sec) > 1.5 * frame_sec:
            picture_note = (f"--video {src.name} is {other.duration_sec:.2f} s, the timeline's picture "
                            f"{timeline.video.duration_sec:.2f} s: the score and its sync points do not fit it; "
                            f"plan that picture with `tempscore score {src.name}`")
            log.warning("%s", picture_note)
        timeline.video.path = str(src)
    if duck_regions is not None:
        regions, speech_source = read_duck_regions(Path(duck_regions)), Path(duck_regions).name
    else:
        regions, speech_source = speech_regions_for(timeline, tl_path)
    from .render.midi import cue_digests, midi_cue_digests

    composed_from = midi_cue_digests(midi_path)
    stale = None
    if composed_from is not None:  # what compose wrote it from, against the timeline now
        now = cue_digests(timeline)
        stale = sorted(set(now) ^ set(composed_from) | {k for k in now if composed_from.get(k) not in (None, now[k])})
        if stale:
            log.warning("%s was composed from an earlier version of %s (changed since: %s); rendering it as it is: "
                        "run `tempscore compose %s` first to hear the change", midi_path.name, tl_path.name,
                        ", ".join(stale), tl_path.name)
    d = output_dir(midi_path, out)
    cache = stage_cache(d, midi_path)
    from .render.mux import scored_extension

    ext = scored_extension(src) if have_video else ".mp4"
    scored = d / f"{stem}.scored{ext}"
    render_key = _render_key(midi_path, timeline, s, regions, src if have_video else None, d)
    done = _up_to_date(cache, render_key)
    if done is not None:  # same inputs as the render that wrote these files, and the files untouched
        return done
    import time

    from .render.mux import TrackEncoder, original_audio_titles

    protect = (src,) if have_video else ()
    wav_path = d / f"{stem}.score.wav"
    # cache entries (cue audio, reverb pieces, encoded tracks) are written behind, off the critical path
    with _ONE_BLAS_THREAD, cache.writing_behind(), TrackEncoder(scored, sr=s.sr, cache=cache, progress=progress) as encoder:
        wav_job = []
        if have_video:  # the tracks to encode, for the progress bar's total
            n = int(round(timeline.video.duration_sec * s.sr))
            mixed = bool(timeline.video.audio_streams) and s.mux_tracks in ("all", "mixed")
            encoder.expected_samples = n * (int(mixed) + int(s.mux_tracks in ("all", "separate") or not mixed))

        def early(music: np.ndarray) -> None:
            """The music is final: its track starts encoding and its WAV is written on the encoders'
            threads, while the production mix is made here."""
            if have_video and s.mux_tracks in ("all", "separate"):
                encoder.submit(music, "music")
            wav_job.append(encoder.run(write_wav, wav_path, music, sr=s.sr, protect=protect))

        result = render_audio(midi_path, timeline, settings=s, speech=regions, production_audio=have_video,
                              cache=cache, fonts=fonts, music_ready=early, progress=progress)
        tracks: list = []  # (float audio, title), encoded from memory: no temporary WAV
        if have_video:
            if result.mix is not None and s.mux_tracks in ("all", "mixed"):
                tracks.append((result.mix, "Temp score + production audio (tempscore)"))
            if result.mix is None or s.mux_tracks in ("all", "separate"):
                tracks.append((result.music, "Temp score only (tempscore)" if tracks else "Temp score (tempscore)"))
            for audio, _ in tracks:  # encoding while the WAV is written
                encoder.submit(audio, "mix" if audio is result.mix else "music")
        t = time.perf_counter()
        outputs = {"wav": str(wav_job[0].result() if wav_job else write_wav(wav_path, result.music, sr=s.sr,
                                                                             protect=protect))}
        for section, audio in result.stems.items():
            outputs[f"stem_{section}"] = str(write_wav(d / f"{stem}.stem-{section}.wav", audio, sr=s.sr,
                                                       protect=protect))
        result.timings_sec["wav"] = round(time.perf_counter() - t, 3)  # what was left of writing it
        mux_note = ""
        if have_video:
            t = time.perf_counter()
            mux(src, tracks, scored, sr=s.sr, encoder=encoder,
                ready=(lambda: progress("muxing", 0, 1)) if progress is not None else None)
            result.timings_sec["mux"] = round(time.perf_counter() - t, 3)  # what was left of encoding, and the mux
            outputs["video"] = str(scored)
        else:
            mux_note = f"skipped: the video {src} is not there (pass --video to mux); wrote the audio only"
            log.warning("mux %s", mux_note)
    pruned = cache.prune(cache_limit)  # keeps this run's entries; older ones past the limit go
    lr = result.loudness
    res = StageResult(outputs=outputs, summary={
        "music_lufs": None if lr.final_lufs is None else round(lr.final_lufs, 2), "target_lufs": lr.target_lufs,
        "true_peak_dbtp": lr.true_peak_dbtp, "gain_db": lr.gain_db, "limiter_max_gr_db": lr.limiter_max_gr_db,
        "gain_held": (f"the previous render's gain, the loudness within {s.loudness_hold_lu:g} LU of the target "
                      f"(--loudness-hold 0 to normalise exactly)") if lr.gain_held else False,
        "soundfont": Path(result.soundfont).name, "sections": result.parts,
        "stems": sorted(result.stems), "ducking": {
            "regions": len(result.speech_regions), "source": speech_source, "depth_db": s.duck_depth_db,
            "attack_sec": s.duck_attack_sec, "release_sec": s.duck_release_sec},
        "audio_tracks": [t for _, t in tracks] + (original_audio_titles(src) if have_video and src.is_file() else []),
        "mux": mux_note or "done", "duration_sec": round(len(result.music) / s.sr, 3),
        **({"picture_mismatch": picture_note} if picture_note else {}),
        **({"midi_older_than_timeline": stale} if stale else {}),
        "aac_tracks": {k: f"{v['mode']}, {v['frames_encoded']}/{v['frames']} frames encoded"
                       for k, v in encoder.reports.items()},
        "timings_sec": result.timings_sec,
        "synth_cache": {"segments_reused": cache.counts.get("synth", [0, 0])[0],
                        "segments_rendered": cache.counts.get("synth", [0, 0])[1],
                        "hall_pieces_reused": cache.counts.get("hall", [0, 0])[0],
                        "hall_pieces_convolved": cache.counts.get("hall", [0, 0])[1],
                        "remixed": result.premaster or None, "dir": str(cache.root),
                        "pruned_mb": round(pruned / 2**20, 1)},
        "buffers_on_disk_mb": result.spilled_mb, "up_to_date": False})
    _record_render(cache, render_key, res)
    return res


def _render_key(midi_path: Path, timeline: Timeline, settings, regions: list, video: Path | None,  # noqa: ANN001
                out_dir: Path) -> dict:
    """Everything a render's files depend on: the MIDI's bytes, the timeline, the settings, the
    dialogue regions, the soundfont and the video file (identity), and where they are written (the
    cache adds the tempscore version to every key)."""
    import hashlib

    from .render.synth import default_soundfont

    return {"midi": hashlib.sha256(Path(midi_path).read_bytes()).hexdigest(), "timeline": to_json(timeline),
            "settings": asdict(settings), "regions": regions,
            "soundfont": _identity(default_soundfont(settings.soundfont)),
            "video": _identity(video) if video else None, "out": str(Path(out_dir).resolve())}


def _identity(path: Path) -> list:
    """``[resolved path, size, mtime_ns]``: a file as cache keys name it."""
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _file_state(path: Path | str) -> list | None:
    """``[size, mtime_ns]`` of a file, or None when it is not there."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _up_to_date(cache, key: dict) -> StageResult | None:  # noqa: ANN001 - StageCache
    """The result of the render made with exactly ``key``, if every file it wrote is still as it
    left it (size and modification time); else None. A no-change re-run then costs no render."""
    rec = cache.get_json("render", key)
    try:
        if not rec or any(_file_state(p) != state for p, state in rec["files"]):
            return None
    except (TypeError, ValueError, KeyError):  # an entry of another shape: render
        return None
    summary = dict(rec["summary"])
    summary["up_to_date"] = True
    summary["timings_sec"] = {}
    summary["synth_cache"] = {**summary.get("synth_cache", {}), "segments_reused": 0, "segments_rendered": 0,
                              "hall_pieces_reused": 0, "hall_pieces_convolved": 0, "pruned_mb": 0.0}
    return StageResult(outputs=dict(rec["outputs"]), summary=summary)


def _record_render(cache, key: dict, res: StageResult) -> None:  # noqa: ANN001
    # (a cache that cannot be written only costs the next run this shortcut)
    cache.put_json("render", key, {"outputs": res.outputs, "summary": res.summary,
                                    "files": [[p, _file_state(p)] for p in res.outputs.values()]})
