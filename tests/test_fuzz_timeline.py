"""Fuzz: hostile hand edits of a timeline through `compose`, `plan` (with that timeline as the previous
one) and `score`, as a user runs them (the CLI's entry point, in this process).

Every run must exit 0 or 2 (never 1, an internal error), print no traceback, and a run that exits
2 must leave every earlier output as it was (hashed before and after). A bounded number of
examples runs in the default suite; ``-m slow`` runs 1,000 (issue 24).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE, run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

STEM = "cut"

#: Numbers a hostile edit reaches for first: signs, zero, the edges of int32/int64/float, tiny and huge.
EXTREMES = [0, -1, 1, 0.5, 1.5, -0.0, 2, 7, 1000, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63, -2**63,
            10**30, 1e308, -1e308, 1e-320, float("nan"), float("inf"), float("-inf")]
scalars = st.one_of(
    st.sampled_from(EXTREMES), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.text(max_size=12), st.builds("x".__mul__, st.sampled_from([81, 5000, 200_000])),
    st.sampled_from(["", "tense", "C# minor", "00:00:01:10", "1M1", "\u202e\u0000", "leader", "user"]))
jsonish = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids,
                                                                                        max_size=4), max_leaves=10)


def _at(doc, path):
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def a_path(draw, doc) -> tuple:
    """A path into ``doc``, walked down from the top (each level as likely as the next, so a field of
    a cue is picked as often as one of the 1,000 samples of a curve)."""
    path: tuple = ()
    node = doc
    while isinstance(node, (dict, list)) and node and (not path or draw(st.integers(0, 2))):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path, node = (*path, key), node[key]
    return path


@st.composite
def hostile_edit(draw, doc: dict):
    """One edit of the parsed timeline ``doc`` in place: set, delete, duplicate, multiply or nest a value."""
    path = draw(a_path(doc))
    parent, key = _at(doc, path[:-1]), path[-1]
    op = draw(st.sampled_from(["set", "set", "set", "delete", "duplicate", "multiply", "nest", "number"]))
    value = parent[key]
    if op == "set":
        parent[key] = draw(jsonish)
    elif op == "number":  # a plausible field, an implausible number
        parent[key] = draw(st.sampled_from(EXTREMES))
    elif op == "delete":
        del parent[key]
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(value))
    elif op == "multiply" and isinstance(value, list) and value:
        parent[key] = value * draw(st.sampled_from([2, 50, 3000]))
    elif op == "nest":  # spliced into the text later (json.dumps itself cannot write 5,000 levels)
        parent[key] = Nested(value, draw(st.sampled_from([3, 40, 5000])))
    event(f"{op} {'.'.join(str(p) for p in path[:2] if not isinstance(p, int))}")


class Nested:
    """``value`` inside ``depth`` arrays, written by :func:`_dumps`."""

    def __init__(self, value, depth: int) -> None:
        self.value, self.depth = value, depth


class Original(str):
    """The timeline's text, shown short in hypothesis' reports."""

    def __repr__(self) -> str:
        return "<the scored sample's timeline.json>"


class Text(str):
    """A hostile timeline's text, shown short in hypothesis' reports (the file is left in the test's folder)."""

    def __repr__(self) -> str:
        return f"<{len(self)} characters: {str.__repr__(self[:300])}...>"


def _dumps(doc) -> str:
    """JSON text (NaN and Infinity as JavaScript writes them), deep nests spliced in as text."""
    nests: list[Nested] = []

    def mark(o):
        if isinstance(o, Nested):
            nests.append(o)
            return f"@@nest{len(nests) - 1}@@"
        raise TypeError(type(o).__name__)

    text = json.dumps(doc, allow_nan=True, default=mark)
    for i, n in reversed(list(enumerate(nests))):
        text = text.replace(f'"@@nest{i}@@"', "[" * n.depth + _dumps(n.value) + "]" * n.depth)
    return text


@st.composite
def hostile_timeline(draw, text: str) -> str:
    """The timeline's text after one to four hostile edits (or, now and then, its bytes broken)."""
    if draw(st.integers(0, 19)) == 0:  # cut short, or a stray byte
        cut = draw(st.integers(0, len(text)))
        return Text(draw(st.sampled_from([text[:cut], text[:cut] + "\x00" + text[cut:], "\ufeff" + text])))
    doc = json.loads(text)
    for _ in range(draw(st.integers(1, 4))):
        draw(hostile_edit(doc))
    return Text(_dumps(doc))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The bundled sample, scored: every output a run could change."""
    d = tmp_path_factory.mktemp("fuzz")
    shutil.copy(SAMPLE, d / f"{STEM}.mp4")
    r = run_cli("score", d / f"{STEM}.mp4", "-o", d / "out")
    assert r.returncode == 0, r.stderr
    return d


def _outputs(folder: Path) -> dict[str, str]:
    """Hashes of the project's files (the cache folder, with its lock, is not an output)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


COMMANDS = {
    "compose": lambda d: ["compose", d / "out" / f"{STEM}.timeline.json"],
    "plan": lambda d: ["plan", d / "out" / f"{STEM}.analysis.json"],
    "score": lambda d: ["score", d / f"{STEM}.mp4", "-o", d / "out"],
}


def _run_hostile(project: Path, work: Path, text: str, commands: list[str]) -> None:
    for name in commands:
        d = work / name
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(project, d, ignore=shutil.ignore_patterns("*.cache"))
        (d / "out" / f"{STEM}.timeline.json").write_text(text, encoding="utf-8", errors="surrogatepass")
        before = _outputs(d / "out")
        r = run_cli(*COMMANDS[name](d))
        code, err = r.returncode, r.stderr
        event(f"{name} exit {code}")
        assert code in (0, 2), f"{name}: exit {code}: {err[-2000:]}"
        assert "Traceback" not in err, f"{name}: {err}"
        if code == 2:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("tempscore: error:"), f"{name}: {err}"
            assert _outputs(d / "out") == before, f"{name} exited 2 and changed earlier outputs: {err}"


def _original(project: Path) -> str:
    return Original((project / "out" / f"{STEM}.timeline.json").read_text(encoding="utf-8"))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_timelines_through_compose_and_plan(project, tmp_path, data):
    """A bounded run for the default suite (about 20 s): compose and plan on each, score now and then."""
    text = data.draw(hostile_timeline(_original(project)))
    commands = ["compose", "plan"] + (["score"] if data.draw(st.integers(0, 3)) == 0 else [])
    _run_hostile(project, tmp_path, text, commands)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_hostile_timelines_through_plan_compose_and_score_1000(project, tmp_path, data):
    """Issue 24's criterion: 1,000 hostile timelines, each through plan, compose and score."""
    text = data.draw(hostile_timeline(_original(project)))
    _run_hostile(project, tmp_path, text, ["plan", "compose", "score"])
