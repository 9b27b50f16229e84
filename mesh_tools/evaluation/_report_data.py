"""The eval report's JSON, typed: what ``build_report`` writes and every renderer and ``compare`` read.

Each shape is a ``TypedDict``, so the JSON stays plain data (``json.dumps`` takes it as is) while
mypy checks every key a reader uses. ``REPORT_FORMAT`` in ``report.py`` names the version of these
shapes.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "CallData",
    "CallsData",
    "CategoryData",
    "CategoryRateKey",
    "CheckData",
    "CostData",
    "EpisodeData",
    "EpisodeMultiAgentData",
    "FaultKindData",
    "FaultsData",
    "FunnelKey",
    "GoalData",
    "InconsistentCall",
    "MultiAgentData",
    "MultiAgentRateKey",
    "PriceData",
    "RateData",
    "RecoveryData",
    "ReportData",
    "RunData",
    "SpreadData",
    "SpreadKey",
    "SummaryData",
    "SummaryRateKey",
    "TaskData",
    "TaskFailure",
    "TokenData",
]


#: Keys of the summary's rates, spreads, the call funnel's rates and the multi-agent rates, for readers
#: that walk several of them.
SummaryRateKey = Literal[
    "goal_achieved", "collateral", "final_validity", "recovery", "abstention", "over_refusal", "max_turns"
]
SpreadKey = Literal["turns", "tool_calls", "tokens", "wall_s", "model_call_latency_s", "tool_call_latency_s"]
FunnelKey = Literal["name_valid", "arguments_parse", "fits_tool_schema", "ids_live", "fits_document_schema"]
MultiAgentRateKey = Literal["conflict_rate", "lost_intent_rate", "converged"]
CategoryRateKey = Literal["pass_at_1", "pass_hat_k"]


class RateData(TypedDict):
    """A proportion with its 95% Wilson interval; ``value`` is None when nothing was counted."""

    successes: float
    n: int
    value: float | None
    low: float
    high: float


class SpreadData(TypedDict):
    mean: float | None
    median: float | None
    p95: float | None
    max: float | None
    total: float


class CostData(TypedDict):
    """US dollars."""

    total: float
    per_episode: float | None
    per_success: float | None


class PriceData(TypedDict):
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float


class RunData(TypedDict):
    suite: str
    suite_path: str
    backend: Literal["model", "scripted", "faulty", "runner"]
    label: str
    model: str
    model_result: bool
    api: Literal["responses", "chat"]
    trials: int
    started_at: str
    finished_at: str
    date: str
    temperature: float | None
    base_url: str | None
    mesh_tools_version: str
    price_usd_per_mtok: PriceData | None
    prices_as_of: str
    rescored_at: str | None
    rescored_by: str | None


class SummaryData(TypedDict):
    tasks: int
    episodes: int
    trials: int
    pass_at_1: RateData
    pass_hat_k: dict[str, RateData]
    pass_at_k: dict[str, float]
    final_validity: RateData
    errors: int
    max_turns: RateData
    recovery: RateData
    mean_attempts_to_recover: float | None
    goal_achieved: RateData
    collateral: RateData
    collateral_changes: int
    abstention: RateData
    over_refusal: RateData
    turns: SpreadData
    tool_calls: SpreadData
    tokens: SpreadData
    cached_input_tokens: int
    cost_usd: CostData | None
    model_call_latency_s: SpreadData
    tool_call_latency_s: SpreadData
    wall_s: SpreadData


class InconsistentCall(TypedDict):
    agent: str
    tool: str
    arguments: str
    result: str
    note: str | None


class CallsData(TypedDict):
    total: int
    outcomes: dict[str, int]
    name_valid: RateData
    arguments_parse: RateData
    fits_tool_schema: RateData
    ids_live: RateData
    fits_document_schema: RateData
    inconsistent: list[InconsistentCall]


class MultiAgentData(TypedDict):
    episodes: int
    conflict_rate: RateData
    conflict_pairs: int
    lost_intent_rate: RateData
    converged: RateData


class CategoryData(TypedDict):
    tasks: int
    episodes: int
    pass_at_1: RateData
    pass_hat_k: RateData


class TaskFailure(TypedDict):
    trial: int
    reason: str


class TaskData(TypedDict):
    id: str
    category: str
    trials: int
    successes: int
    pass_at_1: float
    pass_hat_k: float
    k: int
    mean_turns: float
    mean_tool_calls: float
    failures: list[TaskFailure]


class FaultKindData(TypedDict):
    kind: str
    expected: str
    injected: int
    detected: int
    classified: int


class FaultsData(TypedDict):
    injected: int
    detected: int
    classified: int
    by_kind: list[FaultKindData]
    misclassified: list[str]


class CheckData(TypedDict):
    check: str
    passed: bool
    detail: str | None


class CallData(TypedDict):
    agent: str
    turn: int
    tool: str
    arguments: str
    result: str
    outcome: str
    write: bool
    error_code: str | None
    target_ids: list[str]
    created_ids: list[str]
    started_at: float
    duration_s: float
    consistent: bool
    note: str | None


class RecoveryData(TypedDict):
    rejected: int
    recovered: int
    attempts: list[int]


class GoalData(TypedDict):
    missed: list[str]
    collateral: list[str]


class TokenData(TypedDict):
    input: int
    cached_input: int
    output: int
    total: int


class EpisodeMultiAgentData(TypedDict):
    writes: int
    conflict_pairs: int
    conflicting_writes: int
    intents: int
    lost_intents: int
    lost: list[str]
    converged: bool
    replicas: int


class EpisodeData(TypedDict):
    """One episode as the report keeps it (``EpisodeResult.to_dict``); ``compare`` pairs on these."""

    task: str
    category: str
    trial: int
    success: bool
    valid: bool
    violations: list[str]
    checks: list[CheckData]
    turns: int
    tool_calls: int
    tokens: TokenData
    model_latencies_s: list[float]
    wall_s: float
    stop_reasons: dict[str, str]
    recovery: RecoveryData
    goal: GoalData | None
    needs_edit: bool
    attempted_write: bool
    multi_agent: EpisodeMultiAgentData | None
    error: str | None
    calls: list[CallData]


class ReportData(TypedDict):
    format: str
    run: RunData
    model_result: bool
    summary: SummaryData
    calls: CallsData
    multi_agent: MultiAgentData | None
    categories: dict[str, CategoryData]
    tasks: list[TaskData]
    faults: FaultsData | None
    episodes: list[EpisodeData]
