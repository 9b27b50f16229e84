"""Evals of schema-valid document edits by agents: suites, runs, metrics and reports.

```python
from mesh_tools.evaluation import EvalConfig, build_report, load_suite, render_markdown, run_suite

suite = load_suite("evals/core")
run = await run_suite(suite, EvalConfig(model="scripted", trials=3))
report = build_report(run.info, run.episodes)  # JSON; render_markdown(report), draw_chart(report, p)
```

See evals/README.md for the suite format and docs/evals.md for what each metric means.
"""

from ._calls import CallClassifier, CallOutcome, ClassifiedCall
from ._chart import draw_chart
from ._checks import Check, CheckContext, CheckOutcome
from ._compare import Comparison, ComparisonRow, Significance, compare_reports, load_report
from ._discrimination import BadPolicy, Discrimination, DiscriminationRow, discriminate, sabotage
from ._episode import EpisodeRecord, EpisodeResult, score_episode
from ._errors import AgentRunError, ChartUnavailableError, ReportError, SuiteError
from ._faults import FaultKind, InjectedFault, plan_faults
from ._goals import GoalChange, GoalOutcome, judge_goal
from ._markdown import render_markdown
from ._metrics import Rate, pass_at_k, pass_hat_k, wilson_interval
from ._pricing import PRICES, PRICES_AS_OF, Price, price_of
from ._recording import RECORDING_FORMAT, rescore, write_recording
from ._reference import ReplayPolicy
from ._report import REPORT_FORMAT, RunInfo, build_report
from ._runner import EvalConfig, EvalRun, RunnerFactory, run_suite
from ._runners import MCPClientRunner, OpenAIAgentsRunner, ReplayRunner, play_policy
from ._seat import AgentReply, AgentRunner, RecordingToolkit, Seat
from ._suite import Suite, Task, TaskAgent, load_suite

__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "RECORDING_FORMAT",
    "REPORT_FORMAT",
    "AgentReply",
    "AgentRunError",
    "AgentRunner",
    "BadPolicy",
    "CallClassifier",
    "CallOutcome",
    "ChartUnavailableError",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "ClassifiedCall",
    "Comparison",
    "ComparisonRow",
    "Discrimination",
    "DiscriminationRow",
    "EpisodeRecord",
    "EpisodeResult",
    "EvalConfig",
    "EvalRun",
    "FaultKind",
    "GoalChange",
    "GoalOutcome",
    "InjectedFault",
    "MCPClientRunner",
    "OpenAIAgentsRunner",
    "Price",
    "Rate",
    "RecordingToolkit",
    "ReplayPolicy",
    "ReplayRunner",
    "ReportError",
    "RunInfo",
    "RunnerFactory",
    "Seat",
    "Significance",
    "Suite",
    "SuiteError",
    "Task",
    "TaskAgent",
    "build_report",
    "compare_reports",
    "discriminate",
    "draw_chart",
    "judge_goal",
    "load_report",
    "load_suite",
    "pass_at_k",
    "pass_hat_k",
    "plan_faults",
    "play_policy",
    "price_of",
    "render_markdown",
    "rescore",
    "run_suite",
    "sabotage",
    "score_episode",
    "wilson_interval",
    "write_recording",
]
