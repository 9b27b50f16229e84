"""The errors of the eval harness, in the package's hierarchy (``mesh_tools.errors``)."""

from __future__ import annotations

from ..errors import MeshError

__all__ = ["ChartUnavailableError", "ReportError", "SuiteError"]


class SuiteError(MeshError):
    """An eval suite that cannot be loaded; the message names the file and the field."""

    code = "invalid_eval_suite"


class ReportError(MeshError):
    """A file that is not an eval report this version can read."""

    code = "invalid_eval_report"


class ChartUnavailableError(MeshError):
    """The report's chart cannot be drawn: matplotlib, an optional extra, is not installed."""

    code = "chart_unavailable"
