"""Analysis -> Timeline: affect curves, cues, tempo map, hit points, reports."""

from .plan import PlanSettings, plan

__all__ = ["PlanSettings", "plan"]
