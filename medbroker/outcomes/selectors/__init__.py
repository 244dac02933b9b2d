"""Reads of the outcomes app. The names other parts call live here: ``report_for_agreement`` and
``programme_summary``; the modules below hold the rest, grouped by page."""

from medbroker.outcomes.selectors.programme import ProgrammeSummary, programme_summary
from medbroker.outcomes.selectors.reports import report_for_agreement

__all__ = ["ProgrammeSummary", "programme_summary", "report_for_agreement"]
