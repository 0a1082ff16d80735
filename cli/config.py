"""Option defaults from TOML files (``tempscore.toml``, ``~/.config/tempscore/config.toml``,
``$TEMPSCORE_CONFIG``), checked as the command line checks them."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ..errors import InvalidSettings

__all__ = ["config_paths", "load_default_map", "blame_config"]


def config_paths() -> list[Path]:
    """Configuration files, lowest priority first: user defaults, then the project's ``tempscore.toml``
    (current directory), then ``$TEMPSCORE_CONFIG``."""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths = [xdg / "tempscore" / "config.toml", Path.cwd() / "tempscore.toml"]
    if os.environ.get("TEMPSCORE_CONFIG"):
        paths.append(Path(os.environ["TEMPSCORE_CONFIG"]))
    return paths


def load_default_map(cmd: Any, sources: dict | None = None) -> dict:
    """Option defaults per command from the TOML config files (``[score]``, ``[plan]``, ... and
    ``[defaults]`` for every command that has the option). Unknown keys are errors. ``sources``
    (optional) receives, per command and option, where its value was set (``path: [table] key``)."""
    params = {name: {p.name: p for p in sub.params} for name, sub in cmd.commands.items()}
    out: dict[str, dict] = {}
    for path in config_paths():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Windows editors may write a BOM
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidSettings(f"{path}: not valid TOML ({exc}); fix or remove it") from exc
        for section, values in data.items():
            if not isinstance(values, dict):  # a key above every table
                raise InvalidSettings(f"{path}: {section} = {values!r} is outside a table; put it under [defaults] "
                                      f"(every command) or a command's table such as [score]")
            if section != "defaults" and section not in params:
                raise InvalidSettings(f"{path}: [{section}] is not a command; use [defaults] or one of "
                                      f"{', '.join(sorted(params))}")
            targets = list(params) if section == "defaults" else [section]
            for key, value in values.items():
                name = key.replace("-", "_")
                hit = [t for t in targets if name in params[t]]
                if not hit:
                    raise InvalidSettings(f"{path}: [{section}] {key} is not an option of that command; "
                                          f"see `tempscore {targets[0]} --help`")
                if isinstance(value, str) and value.startswith("~"):  # a path: no shell expands it in TOML
                    value = os.path.expanduser(value)
                for t in hit:
                    out.setdefault(t, {})[name] = _config_value(params[t][name], value, where=f"{path}: [{section}] {key}")
                    if sources is not None:
                        sources.setdefault(t, {})[name] = (f"{path} [{section}] {key}", value)
    return out


def blame_config(message: str, cmd: Any, args: list[str], sources: dict) -> str:
    """``message`` (a user error) with the config file and key that set the value it is about, when
    that value came from a config file rather than the command line: the error names the option
    (``--lufs -80 is outside ...``) as if it had been typed, which a user who never typed it looks
    for in vain. Matched by the option's flag, its name in words or its value in the message."""
    name = next((a for a in args if not a.startswith("-")), None)
    sub = cmd.commands.get(name) if name and cmd is not None else None
    if sub is None or name not in sources:
        return message
    typed = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    low = message.lower()
    blamed = []
    for p in sub.params:
        if p.name not in sources[name] or typed & set(getattr(p, "opts", [])):
            continue
        where, value = sources[name][p.name]
        values = value if isinstance(value, list) else [value]
        if (any(o in message for o in getattr(p, "opts", []) if o.startswith("--"))
                or p.name.replace("_", " ") in low
                or any(isinstance(v, str) and len(v) > 2 and (v in message or v.split("=")[0].split(":")[0].strip() in message)
                       for v in values)):
            blamed.append(where)
    return f"{message} (set in {blamed[0]})" if len(blamed) == 1 else message


def _config_value(param: Any, value: object, *, where: str) -> object:
    """A config file's value for ``param``, checked as the command line would check it: a single
    string is one entry of a repeatable option (``mood = "cue 1=tense"``), a list is several; a
    wrong type is an error naming the file and the key, not an error about a flag never typed."""
    items = value if isinstance(value, list) else [value]
    if not getattr(param, "multiple", False) and isinstance(value, list):
        raise InvalidSettings(f"{where}: takes one value, not a list")
    if getattr(param, "is_flag", False) and not isinstance(value, bool):
        raise InvalidSettings(f"{where} = {value!r}: use true or false")
    textual = param.type.name in ("str", "text", "path")
    if not getattr(param, "is_flag", False) and any(isinstance(v, (bool, dict, list)) or (textual and not isinstance(v, str))
                                                    for v in items):
        kind = {"int": "whole number", "float": "number", "str": "text", "path": "path"}.get(param.type.name, param.type.name)
        raise InvalidSettings(f"{where} = {value!r}: give " + (f"a list of {kind}s" if getattr(param, "multiple", False)
                                                                 else f"a {kind}"))
    if param.type.name in ("int", "integer") and any(isinstance(v, float) and not v.is_integer() for v in items):
        raise InvalidSettings(f"{where} = {value!r}: give a whole number")
    try:
        converted = [param.type.convert(v, param, None) for v in items]
    except Exception as exc:  # click.BadParameter (its class comes with typer's click)
        raise InvalidSettings(f"{where} = {value!r}: {getattr(exc, 'message', exc)}") from None
    return converted if getattr(param, "multiple", False) else converted[0]
