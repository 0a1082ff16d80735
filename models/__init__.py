"""Learned and rule-based models. ``compose(timeline) -> Score``."""

from .rule_composer import COMPOSER_ID, compose

__all__ = ["COMPOSER_ID", "compose"]
