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
    timeline = Path(first.outputs["timeline"])
    project = Project.of(timeline)
    files = [project.timeline, project.ratings]  # what a user edits between runs
    con = err_console()

    def state() -> tuple:
        out = []
        for f in files:
            try:
                out.append(f.read_bytes())
            except OSError:
                out.append(None)
        return tuple(out)

    def stamp() -> tuple:
        out = []
        for f in files:
            try:
                st = f.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def picture_stamp() -> tuple | None:
        try:
            st = picture.stat() if picture is not None else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size) if st is not None else None

    seen_stamp, seen = stamp(), state()
    seen_picture, pending = picture_stamp(), None  # pending: (stamp, since) of a picture being written
    con.print(f"watching {', '.join(f.name for f in files)}"
              f"{' and ' + picture.name if picture is not None else ''} in {timeline.parent} "
              "(save to score again; Ctrl+C stops)")
    runs = 0
    while True:
        try:
            time.sleep(0.1)
            recut = False
            pic = picture_stamp()
            if pic != seen_picture and pic is not None:
                if pending is None or pending[0] != pic:
                    if pending is None:
                        con.print(f"{picture.name} changed: scoring the new version once it is written")
                    pending = (pic, time.monotonic())
                elif time.monotonic() - pending[1] >= PICTURE_SETTLE_SEC:
                    recut = True
            now = stamp()
            if not recut:
                if now == seen_stamp:
                    continue
                time.sleep(0.05)  # let the editor finish writing
                if stamp() != now:
                    continue
                seen_stamp = now
                content = state()
                if content == seen:  # touched, or our own write
                    continue
            else:
                seen_picture, pending = pic, None
                seen_stamp, content = now, state()
        except KeyboardInterrupt:
            con.print("stopped watching")
            return
        t = time.perf_counter()
        own: list[tuple] = []
        try:
            res = rerun()
            own.append((stamp(), state()))  # this run's own writes, not a change of the user's
        except ConcurrentEdit:  # a save came in while this run was rewriting the timeline: it runs next
            con.print("a newer save came in during the run; scoring that one")
            seen_stamp, seen = now, content
            continue
        except TempscoreError as exc:
            sys.stderr.write(f"tempscore: error: {exc} (still watching: fix it and save again)\n")
            sys.stderr.flush()
            # what was tried (or, past compose, our own last write): a newer save, even one just made, runs
            seen_stamp, seen = own[-1] if own else (now, content)
            continue
        runs += 1
        sec = time.perf_counter() - t
        # the plan (and compose) rewrite the timeline: that is not a change of the user's, but a save
        # made after our last write (during the render) still differs from it and runs next
        seen_stamp, seen = own[-1]
        summary = res.summary_dict()
        if json_out:
            print(json.dumps({"ok": True, "command": "score", "schema": SUMMARY_SCHEMA, "watch_run": runs,
                              "wall_sec": round(sec, 3), "outputs": res.outputs, **summary}, default=str), flush=True)
        else:
            rep = summary["compose"].get("cue_report", {})
            redone = [k for k, v in rep.items() if not v.get("cached", False)]
            synth = summary["render"].get("synth_cache", {})
            con.print(f"scored again in {sec:.2f} s: {len(redone)} cue(s) recomposed"
                      f"{' (' + ', '.join(redone) + ')' if redone else ''}, "
                      f"{synth.get('segments_rendered', 0)} segment(s) synthesised, "
                      f"{synth.get('segments_reused', 0)} reused -> {res.outputs.get('video') or res.outputs.get('wav')}")
