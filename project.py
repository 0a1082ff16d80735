"""One video's project: every file tempscore writes for it, where, and who may write them now.

A project is a video's *stem* (``cut`` for ``cut.mp4``) in an output folder. :class:`Project` names
every path of it (the stage files, the reports, the audio, the scored video, the cache, the lock,
the picture fingerprints), so no path is built by hand anywhere else. :meth:`Project.lock` keeps
two runs from writing the same files at once; :class:`OutputSet` makes a run's outputs land as
one set (all of them replace the previous ones, or none do).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OutputError
from .fileio import NAME_MAX, TEMP_MARK, leftovers, temp_prefix

if TYPE_CHECKING:
    from .cache import StageCache

log = logging.getLogger(__name__)

__all__ = ["Project", "OutputSet", "stem_of", "output_dir", "is_project_output"]

#: Suffixes of the stage files, longest first where one ends another.
STAGE_SUFFIXES = (".analysis.json", ".timeline.json", ".score.mid", ".score.wav", ".sync.csv", ".sync.json",
                  ".ratings.json")
#: Output names of a project besides ``STAGE_SUFFIXES``.
_OTHER_OUTPUT_SUFFIXES = (".timeline.png", ".edl", ".otio", ".click.wav", ".streamers.mp4", ".premiere.xml", ".fcpxml",
                          ".aaf", ".rpp", ".score.musicxml", ".score.pdf", ".cuesheet.csv", ".spotting.html")
#: Suffixes of files, not folders: ``-o cut.mp4`` is taken for a mistake, not a folder to create.
FILE_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v", ".avi", ".mxf", ".webm", ".wav", ".aif", ".aiff", ".mp3",
                 ".m4a", ".mid", ".midi", ".json", ".csv", ".edl", ".otio", ".png", ".xml", ".fcpxml", ".aaf", ".rpp",
                 ".musicxml", ".pdf", ".html"}
#: The longest suffix of an output named after the input (``--stems``: ``<stem>.stem-percussion.wav``).
LONGEST_OUTPUT_SUFFIX = ".stem-percussion.wav"
#: The staging folder of a run in progress: ``.<stem>.tempscore-run-<random>`` beside the outputs.
_RUN_KIND = "run-"


def stem_of(path: Path | str) -> str:
    """``cut.timeline.json`` -> ``cut``; ``cut.mp4`` -> ``cut``."""
    name = Path(path).name
    for suf in STAGE_SUFFIXES:
        if name.endswith(suf):
            return name[: -len(suf)]
    return Path(path).stem


def output_dir(input_path: Path | str, out: Path | str | None) -> Path:
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
    longest = f"{stem_of(Path(input_path))}{LONGEST_OUTPUT_SUFFIX}"
    if len(os.fsencode(longest)) > NAME_MAX:  # found now, not as an OSError halfway through the run
        raise OutputError(f"{Path(input_path).name}: name too long for the outputs named after it ({longest[:12]}... "
                          f"is {len(os.fsencode(longest))} bytes, file systems take {NAME_MAX}); give it a shorter name")
    return d


def is_project_output(name: str, stem: str) -> bool:
    """Whether the file name ``name`` is one tempscore writes for the project ``stem``
    (``cut.scored.mp4``, ``cut.stem-strings.wav``: yes for ``cut``; ``cut.scored.analysis.json``,
    project ``cut.scored``'s: no)."""
    if name == stem:  # the staging folder of a run (``.<stem>.tempscore-run-...``)
        return True
    if not name.startswith(f"{stem}."):
        return False
    rest = name[len(stem):]
    return (rest in STAGE_SUFFIXES or rest in _OTHER_OUTPUT_SUFFIXES
            or re.fullmatch(r"\.scored\.[A-Za-z0-9]+|\.stem-[a-z]+\.wav", rest) is not None)


@dataclass(frozen=True)
class Project:
    """The files of one video's project: ``<folder>/<stem>.*``.

    Parameters
    ----------
    folder : Path
        Where the outputs are (``-o``, else beside the video).
    stem : str
        The video's name without its extension.
    """

    folder: Path
    stem: str

    @classmethod
    def of(cls, any_file: Path | str, out_dir: Path | str | None = None) -> Project:
        """The project of any of its files (the video, ``<stem>.timeline.json``, ...), written to
        ``out_dir`` (default: beside that file)."""
        return cls(output_dir(any_file, out_dir), stem_of(any_file))

    def file(self, suffix: str) -> Path:
        """``<folder>/<stem><suffix>``."""
        return self.folder / f"{self.stem}{suffix}"

    @property
    def analysis(self) -> Path:
        return self.file(".analysis.json")

    @property
    def timeline(self) -> Path:
        return self.file(".timeline.json")

    @property
    def sync_csv(self) -> Path:
        return self.file(".sync.csv")

    @property
    def sync_json(self) -> Path:
        return self.file(".sync.json")

    @property
    def timeline_png(self) -> Path:
        return self.file(".timeline.png")

    @property
    def edl(self) -> Path:
        return self.file(".edl")

    @property
    def otio(self) -> Path:
        return self.file(".otio")

    @property
    def click_wav(self) -> Path:
        """``<stem>.click.wav`` (``--click``)."""
        return self.file(".click.wav")

    @property
    def streamers_video(self) -> Path:
        """``<stem>.streamers.mp4`` (``--streamers``): a reference picture with streamers and punches."""
        return self.file(".streamers.mp4")

    @property
    def premiere_xml(self) -> Path:
        """``<stem>.premiere.xml`` (``--sessions``): Premiere Pro / DaVinci Resolve (FCP 7 XML)."""
        return self.file(".premiere.xml")

    @property
    def fcpxml(self) -> Path:
        """``<stem>.fcpxml`` (``--sessions``): Final Cut Pro X."""
        return self.file(".fcpxml")

    @property
    def aaf(self) -> Path:
        """``<stem>.aaf`` (``--sessions``): Pro Tools / Media Composer."""
        return self.file(".aaf")

    @property
    def reaper(self) -> Path:
        """``<stem>.rpp`` (``--sessions``): REAPER."""
        return self.file(".rpp")

    @property
    def musicxml(self) -> Path:
        """``<stem>.score.musicxml`` (``--notation``)."""
        return self.file(".score.musicxml")

    @property
    def score_pdf(self) -> Path:
        """``<stem>.score.pdf`` (``--notation``, with MuseScore)."""
        return self.file(".score.pdf")

    @property
    def cuesheet(self) -> Path:
        """``<stem>.cuesheet.csv`` (``--cuesheet``)."""
        return self.file(".cuesheet.csv")

    @property
    def spotting_notes(self) -> Path:
        """``<stem>.spotting.html`` (``--cuesheet``)."""
        return self.file(".spotting.html")

    @property
    def midi(self) -> Path:
        return self.file(".score.mid")

    @property
    def wav(self) -> Path:
        return self.file(".score.wav")

    @property
    def ratings(self) -> Path:
        return self.file(".ratings.json")

    @property
    def variants(self) -> Path:
        """The folder of the alternatives per cue and their auditions (``--variants``)."""
        return self.file(".variants")

    def stem_wav(self, section: str) -> Path:
        """``<stem>.stem-<section>.wav`` (``--stems``)."""
        return self.file(f".stem-{section}.wav")

    def stem_wavs(self) -> list[Path]:
        """The section stems there are now."""
        return sorted(self.folder.glob(f"{glob_escape(self.stem)}.stem-*.wav"))

    def scored_video(self, ext: str) -> Path:
        """``<stem>.scored<ext>`` (``ext`` with its dot: the container the picture allows)."""
        return self.file(f".scored{ext}")

    @property
    def cache_dir(self) -> Path:
        """``<stem>.cache/``: per-cue work, safe to delete."""
        return self.file(".cache")

    def cache(self) -> StageCache:
        from .cache import StageCache

        return StageCache(self.cache_dir)

    @property
    def picture_dir(self) -> Path:
        """Per version of the cut (content hash): its picture fingerprint and, once a recut replaced
        it, its analysis: what a recut's edits are conformed from."""
        return self.cache_dir / "picture"

    def fingerprint(self, content_hash: str) -> Path:
        return self.picture_dir / f"{content_hash}.fingerprint.npz"

    def earlier_analysis(self, content_hash: str) -> Path:
        """The analysis of an earlier version of the cut, kept when a recut replaced it."""
        return self.picture_dir / f"{content_hash}.analysis.json"

    @property
    def run_lock(self) -> Path:
        return self.cache_dir / "run.lock"

    @property
    def commit_journal(self) -> Path:
        """Where a run's output set is recorded while it is renamed into place (:class:`OutputSet`)."""
        return self.cache_dir / "commit.json"

    def outputs_with(self, suffixes: tuple[str, ...]) -> list[Path]:
        return [self.file(s) for s in suffixes]

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold the project's lock while a command writes its files (see :func:`project_lock`)."""
        from .locking import project_lock

        return project_lock(self)

    def sweep_leftovers(self) -> int:
        """Remove what a run killed outright (SIGKILL, out of memory: no cleanup ran) left: hidden
        temporary outputs, track folders and staging folders; first finish an output set whose
        renaming was cut short (:meth:`OutputSet.recover`). Only safe while holding :meth:`lock`.
        Returns the bytes freed."""
        OutputSet.recover(self)
        freed = 0
        for p in leftovers(self.folder, lambda target: is_project_output(target, self.stem)):
            try:
                freed += _remove(p)
            except OSError as exc:
                log.debug("could not remove %s: %s", p, exc)
                continue
            log.info("removed %s, left by an interrupted run", p.name)
        return freed


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters taken literally."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _remove(p: Path) -> int:
    """Remove a file or a folder; the bytes it held."""
    if p.is_dir() and not p.is_symlink():
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        shutil.rmtree(p)
        return size
    size = p.lstat().st_size
    p.unlink()
    return size


class OutputSet:
    """A run's outputs, written into a staging folder beside the project and renamed into place
    together at :meth:`commit`, so the folder holds either the previous complete set or this
    run's, never a mix (a timeline from this run beside a scored video from the last).

    Stages write to :meth:`path` (in the staging folder) and read this run's earlier outputs back
    with :meth:`current`; what they record inside files (a path to the analysis) is the final
    path, :attr:`project`'s. A run that fails, or is interrupted, removes the staging folder and
    leaves the previous set as it was. The renames themselves are recorded in a journal first: a
    run killed among them is finished by the next run of the project (:meth:`recover`).

    Parameters
    ----------
    project : Project
    protect : tuple of Path
        The user's inputs: never replaced.
    """

    def __init__(self, project: Project, *, protect: tuple[Path, ...] = ()) -> None:
        self.project = project
        self.protect = tuple(Path(p) for p in protect)
        self._expect: dict[str, bytes | None] = {}
        self._staging: Path | None = None
        self._after: list[Callable[[], None]] = []
        self.committed: list[Path] = []

    @property
    def staging(self) -> Path:
        """The staging folder, made at the first output (a run refused before that leaves nothing)."""
        if self._staging is None:
            import tempfile

            try:
                self.project.folder.mkdir(parents=True, exist_ok=True)
                self._staging = Path(tempfile.mkdtemp(prefix=temp_prefix(self.project.folder / self.project.stem,
                                                                         _RUN_KIND), dir=self.project.folder))
            except OSError as exc:
                raise OutputError(f"cannot write to {self.project.folder}: {exc.strerror or exc}; choose another "
                                  f"output directory with -o") from exc
        return self._staging

    def holds(self, final: Path) -> bool:
        """Whether ``final`` is a file of the project's folder (however either path is written)."""
        return os.path.abspath(Path(final).parent) == os.path.abspath(self.project.folder)

    def path(self, final: Path) -> Path:
        """Where to write the output whose place is ``final`` (a path of :attr:`project`)."""
        final = Path(final)
        if not self.holds(final):
            raise ValueError(f"{final} is not in the project folder {self.project.folder}")
        return self.staging / final.name

    def current(self, final: Path) -> Path:
        """This run's version of ``final`` when it wrote one, else the one in place."""
        if self._staging is not None and self.holds(final):
            staged = self._staging / Path(final).name
            if staged.exists():
                return staged
        return Path(final)

    def expect(self, final: Path, content: bytes | None) -> None:
        """``final`` held ``content`` when this run first read it: if it holds anything else at
        :meth:`commit` (the user saved it meanwhile), nothing is replaced
        (:class:`~tempscore.errors.ConcurrentEdit`)."""
        self._expect.setdefault(Path(final).name, content)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the set is in place (a record of what it holds)."""
        self._after.append(fn)

    def staged(self) -> list[str]:
        if self._staging is None:
            return []
        return sorted(e.name for e in os.scandir(self._staging) if not e.name.startswith("."))

    def commit(self) -> list[Path]:
        """Rename every staged output into place (after checking :meth:`expect`); returns them."""
        from .fileio import _check_unchanged

        names = self.staged()
        for name in names:
            final = self.project.folder / name
            for p in self.protect:
                if p.exists() and final.exists() and os.path.samefile(p, final):
                    raise OutputError(f"{final}: refusing to overwrite the input; choose another output directory "
                                      f"with -o")
            if name in self._expect and self._expect[name] is not None:
                _check_unchanged(final, self._expect[name])
        journal = self.project.commit_journal
        if names:
            _write_journal(journal, self.staging, names)
        for name in names:
            os.replace(self._staging / name, self.project.folder / name)
            self.committed.append(self.project.folder / name)
        with contextlib.suppress(OSError):
            journal.unlink()
        self.discard()
        for fn in self._after:
            fn()
        return list(self.committed)

    def discard(self) -> None:
        """Remove the staging folder and whatever is still in it."""
        if self._staging is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._staging)
            self._staging = None

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.discard()  # committed or not: nothing of the run stays half-way

    @staticmethod
    def recover(project: Project) -> None:
        """Finish the renames of a set whose run was killed among them (its journal is there)."""
        journal = project.commit_journal
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            staging = project.folder / str(record["staging"])
            names = [str(n) for n in record["files"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s is unreadable (%s); removed", journal, exc)
            with contextlib.suppress(OSError):
                journal.unlink()
            return
        moved = 0
        for name in names:
            if Path(name).name != name:
                continue  # only names in the folder itself
            with contextlib.suppress(FileNotFoundError):
                os.replace(staging / name, project.folder / name)
                moved += 1
        if moved:
            log.warning("finished writing %d output(s) of %s that an interrupted run had left half-way", moved,
                        project.stem)
        with contextlib.suppress(OSError):
            journal.unlink()
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)


def _write_journal(journal: Path, staging: Path, names: list[str]) -> None:
    """Record the set about to be renamed, durably, before the first rename."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    tmp = journal.with_name(f".{journal.name}{TEMP_MARK}.tmp")
    data = json.dumps({"staging": staging.name, "files": names}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, journal)


def check_free_space(folder: Path, need_bytes: int, *, what: str) -> None:
    """Refuse, before a long job, when ``folder``'s file system has less than ``need_bytes`` free."""
    where = Path(folder).absolute()
    while not where.exists() and where != where.parent:  # a folder the run will make: its file system
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if free < need_bytes:
        raise OutputError(f"not enough space in {folder} for {what}: about {need_bytes / 1e9:.2f} GB needed, "
                          f"{free / 1e9:.2f} GB free; free some space or choose another output directory with -o")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is (or was raised from) the file system refusing a write for room (no space,
    file too large, quota, read-only): the user's to fix, not our bug (:func:`tempscore.errors.disk_failure`)."""
    from .errors import disk_failure

    return disk_failure(exc) is not None
