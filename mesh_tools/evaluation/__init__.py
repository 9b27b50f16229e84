"""Evals of schema-valid document edits by agents: suites, runs, metrics and reports.

```python
from mesh_tools.evaluation import EvalConfig, build_report, load_suite, render_markdown, run_suite

suite = load_suite("evals/core")
run = await run_suite(suite, EvalConfig(model="scripted", trials=3))
report = build_report(run.info, run.episodes)  # JSON; render_markdown(report), draw_chart(report, p)
```

See evals/README.md for the suite format and docs/evals.md for what each metric means.
"""

from .calls import CallClassifier, CallOutcome, ClassifiedCall
from .chart import draw_chart
from .checks import Check, CheckContext, CheckOutcome
from .compare import Comparison, ComparisonRow, compare_reports, load_report
from .episode import EpisodeRecord, EpisodeResult, score_episode
from .errors import ChartUnavailableError, ReportError, SuiteError
from .faults import FaultKind, InjectedFault, plan_faults
from .markdown import render_markdown
from .metrics import Rate, pass_at_k, pass_hat_k, wilson_interval
from .reference import ReplayPolicy
from .report import REPORT_FORMAT, RunInfo, build_report
from .runner import EvalConfig, EvalRun, run_suite
from .suite import Suite, Task, TaskAgent, load_suite

__all__ = [
    "REPORT_FORMAT",
    "CallClassifier",
    "CallOutcome",
    "ChartUnavailableError",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "ClassifiedCall",
    "Comparison",
    "ComparisonRow",
    "EpisodeRecord",
    "EpisodeResult",
    "EvalConfig",
    "EvalRun",
    "FaultKind",
    "InjectedFault",
    "Rate",
    "ReplayPolicy",
    "ReportError",
    "RunInfo",
    "Suite",
    "SuiteError",
    "Task",
    "TaskAgent",
    "build_report",
    "compare_reports",
    "draw_chart",
    "load_report",
    "load_suite",
    "pass_at_k",
    "pass_hat_k",
    "plan_faults",
    "render_markdown",
    "run_suite",
    "score_episode",
    "wilson_interval",
]
