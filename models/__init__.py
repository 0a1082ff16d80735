"""Learned and rule-based models. ``compose(timeline) -> Score``.

Imports are lazy, so the training script and ``tempscore --help`` stay light.
"""

from typing import Any

RULES_ID = "rule-based:v1"
COMPOSER_ID = RULES_ID  # kept for callers of v0.1

__all__ = ["COMPOSER_ID", "RULES_ID", "compose"]


def __getattr__(name: str) -> Any:
    if name == "compose":
        from .composer import compose

        return compose
    raise AttributeError(name)
