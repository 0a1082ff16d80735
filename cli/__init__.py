"""``tempscore``: a thin command line over the library API (no logic of its own).

Exit status: 0 success, 2 user error (bad input, one line on stderr), 1 internal error.
Heavy libraries load inside the commands, so ``tempscore --help`` is instant.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING

import typer

from ..errors import TempscoreError, disk_error, disk_failure
from .app import app
from .config import blame_config, load_default_map

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["app", "main"]


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(Exit, ClickException, Abort) types of plain click and of the click that typer vendors."""
    import click

    mods = [click.exceptions]
    try:
        from typer._click import exceptions as vendored  # typer >= 0.2x ships its own click

        mods.append(vendored)
    except ImportError:
        pass

    def pick(name: str) -> tuple[type, ...]:
        return tuple(t for m in mods if (t := getattr(m, name, None)) is not None)

    return (pick("Exit") + (typer.Exit,), pick("ClickException"), pick("Abort"))


def _stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) stops a run the way Ctrl+C does: temporary files removed, nothing half-written."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def stop(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    code = _main(argv)
    if argv is None:  # the process's own run: its status is decided, so a Ctrl+C while the interpreter
        import signal  # tears down (freeing a film's audio, joining threads) no longer kills it with SIGINT
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _stop_on_sigterm()
    exit_types, click_errors, abort_types = _click_exception_types()
    cmd = None
    sources: dict = {}  # command -> option -> (where a config file set it, the value)
    try:
        cmd = typer.main.get_command(app)
        try:
            default_map = load_default_map(cmd, sources)
        except TempscoreError:
            if "--help" not in args and args:
                raise
            default_map = {}  # help is shown whatever a config file says
        rv = cmd.main(args=args, prog_name="tempscore", standalone_mode=False, default_map=default_map)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            # outside standalone mode typer returns an Exit's code instead of raising it, and turns
            # Ctrl+C into Exit(130) after every `with` block has unwound: a status, never a silent 0
            if rv == 130:
                sys.stderr.write("interrupted\n")
            return rv
        return 0
    except exit_types as exc:
        return int(exc.exit_code)
    except click_errors as exc:
        exc.show()
        return 2
    except abort_types:
        sys.stderr.write("aborted\n")
        return 130
    except TempscoreError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"tempscore: error: {blame_config(str(exc), cmd, args, sources)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # the last line of defence
        if (refused := disk_failure(exc)) is None:
            return _internal_error(exc, debug)
        if debug:  # the disk, not tempscore (wherever it refused, however wrapped): a user error, exit 2
            traceback.print_exc()
        sys.stderr.write(f"tempscore: error: {disk_error(refused)}\n")
        return 2


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    sys.stderr.write(f"tempscore: internal error: {exc.__class__.__name__}: {exc} (re-run with --debug for the "
                     f"traceback)\n")
    return 1
