"""Analysis -> Timeline: affect curves, cues, tempo map, hit points, reports.

Imports are lazy: ``tempscore.scoring.tempo`` (used by compose and render) does not pull in the
planner's SciPy-based curves.
"""

import importlib
from typing import Any

__all__ = ["PlanSettings", "plan"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        mod = importlib.import_module(".plan", __name__)
        # importing the submodule binds ``plan`` to the module; the package exports the function
        globals().update(PlanSettings=mod.PlanSettings, plan=mod.plan)
        return globals()[name]
    raise AttributeError(name)
