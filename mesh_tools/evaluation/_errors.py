"""The errors of the eval harness, in the package's hierarchy (``mesh_tools.errors``)."""

from __future__ import annotations

from ..errors import MeshError

__all__ = ["AgentRunError", "ChartUnavailableError", "ReportError", "SuiteError"]


class SuiteError(MeshError):
    """An eval suite that cannot be loaded; the message names the file and the field."""

    code = "invalid_eval_suite"


class ReportError(MeshError):
    """A file that is not an eval report this version can read."""

    code = "invalid_eval_report"


class AgentRunError(MeshError):
    """An agent plugged in through an :class:`~mesh_tools.evaluation.AgentRunner` failed to finish its run."""

    code = "agent_run_failed"


class ChartUnavailableError(MeshError):
    """The report's chart cannot be drawn: matplotlib, an optional extra, is not installed."""

    code = "chart_unavailable"
