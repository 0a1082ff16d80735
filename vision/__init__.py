"""Picture and production-audio analysis: ``analyze(video) -> Analysis``."""

from .analyze import AnalyzeSettings, analyze
from .probe import probe

__all__ = ["AnalyzeSettings", "analyze", "probe"]
