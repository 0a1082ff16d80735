"""``score --watch``: score again on every save of the timeline or the ratings, and on a new export
of the picture."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..api.results import SUMMARY_SCHEMA
from ..errors import ConcurrentEdit, TempscoreError
from ..project import Project
from .report import err_console

if TYPE_CHECKING:
    from ..api.results import StageResult

__all__ = ["watch", "PICTURE_SETTLE_SEC"]


#: ``score --watch``: a new export of the picture is scored once its file has not changed for this
#: long (an editing application writes a long export in pieces).
PICTURE_SETTLE_SEC = 2.0


def watch(first: StageResult, rerun: Callable[[], StageResult], *, json_out: bool, picture: Path | None = None) -> None:
    """``score --watch``: poll the timeline and ratings files; score again when their content changes,
    and when the picture file is replaced by a new export (a recut: the edits are conformed), once
    it has been left alone for :data:`PICTURE_SETTLE_SEC`.

    A save that does not parse is reported in one line and the watch goes on (the next save is
    tried again); Ctrl+C while waiting ends with status 0, during a run it interrupts as usual.
    """
    _Watcher(Project.of(Path(first.outputs["timeline"])), picture, json_out=json_out).run(rerun)


class _Watcher:
    """The files a user edits between runs (the timeline and the ratings) and the picture, polled."""

    def __init__(self, project: Project, picture: Path | None, *, json_out: bool) -> None:
        self.files = [project.timeline, project.ratings]
        self.picture = picture
        self.json_out = json_out
        self.con = err_console()
        self.seen_stamp, self.seen = self.stamp(), self.state()
        self.seen_picture = self.picture_stamp()
        self.pending: tuple | None = None  # (stamp, since) of a picture being written
        self.runs = 0

    def state(self) -> tuple:
        out = []
        for f in self.files:
            try:
                out.append(f.read_bytes())
            except OSError:
                out.append(None)
        return tuple(out)

    def stamp(self) -> tuple:
        out = []
        for f in self.files:
            try:
                st = f.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def picture_stamp(self) -> tuple | None:
        try:
            st = self.picture.stat() if self.picture is not None else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None

    def run(self, rerun: Callable[[], StageResult]) -> None:
        where = self.files[0].parent
        self.con.print(f"watching {', '.join(f.name for f in self.files)}"
                       f"{' and ' + self.picture.name if self.picture is not None else ''} in {where} "
                       "(save to score again; Ctrl+C stops)")
        while True:
            try:
                change = self.wait_for_change()
            except KeyboardInterrupt:
                self.con.print("stopped watching")
                return
            self.score_again(rerun, *change)

    def wait_for_change(self) -> tuple[tuple, tuple]:
        """Poll until the user saved something new or a new export of the picture has settled; returns
        the files' stamp and content then."""
        while True:
            time.sleep(0.1)
            if self.picture_settled():
                self.seen_picture, self.pending = self.picture_stamp(), None
                return self.stamp(), self.state()
            now = self.stamp()
            if now == self.seen_stamp:
                continue
            time.sleep(0.05)  # let the editor finish writing
            if self.stamp() != now:
                continue
            self.seen_stamp = now
            content = self.state()
            if content != self.seen:  # else touched, or our own write
                return now, content

    def picture_settled(self) -> bool:
        """Whether the picture was replaced by a new export that has been left alone long enough."""
        pic = self.picture_stamp()
        if pic == self.seen_picture or pic is None:
            return False
        if self.pending is None or self.pending[0] != pic:
            if self.pending is None:
                self.con.print(f"{self.picture.name} changed: scoring the new version once it is written")
            self.pending = (pic, time.monotonic())
            return False
        return time.monotonic() - self.pending[1] >= PICTURE_SETTLE_SEC

    def score_again(self, rerun: Callable[[], StageResult], now: tuple, content: tuple) -> None:
        t = time.perf_counter()
        try:
            res = rerun()
        except ConcurrentEdit:  # a save came in while this run was rewriting the timeline: it runs next
            self.con.print("a newer save came in during the run; scoring that one")
            self.seen_stamp, self.seen = now, content
            return
        except TempscoreError as exc:
            sys.stderr.write(f"tempscore: error: {exc} (still watching: fix it and save again)\n")
            sys.stderr.flush()
            self.seen_stamp, self.seen = now, content  # what was tried: a newer save, even one just made, runs
            return
        # the run rewrote the timeline: that is not a change of the user's, but a save made after it lands
        # still differs from it and runs next
        self.seen_stamp, self.seen = self.stamp(), self.state()
        self.runs += 1
        self.report(res, time.perf_counter() - t)

    def report(self, res: StageResult, sec: float) -> None:
        summary = res.summary_dict()
        if self.json_out:
            print(json.dumps({"ok": True, "command": "score", "schema": SUMMARY_SCHEMA, "watch_run": self.runs,
                              "wall_sec": round(sec, 3), "outputs": res.outputs, **summary}, default=str), flush=True)
            return
        rep = summary["compose"].get("cue_report", {})
        redone = [k for k, v in rep.items() if not v.get("cached", False)]
        synth = summary["render"].get("synth_cache", {})
        self.con.print(f"scored again in {sec:.2f} s: {len(redone)} cue(s) recomposed"
                       f"{' (' + ', '.join(redone) + ')' if redone else ''}, "
                       f"{synth.get('segments_rendered', 0)} segment(s) synthesised, "
                       f"{synth.get('segments_reused', 0)} reused -> "
                       f"{res.outputs.get('video') or res.outputs.get('wav')}")
