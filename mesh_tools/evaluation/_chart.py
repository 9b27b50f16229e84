"""The eval report's chart: success per category with 95% intervals, and what tool calls ran into.

matplotlib (the ``charts`` extra) is imported only here, only when a chart is drawn, on the Agg
backend so no display is needed. Without it :func:`draw_chart` raises :class:`ChartUnavailableError`,
which the eval command turns into a note: the JSON and Markdown reports are complete without the chart.
"""

from __future__ import annotations

from pathlib import Path

from ._errors import ChartUnavailableError
from ._report_data import CategoryRateKey, ReportData

__all__ = ["draw_chart"]


def draw_chart(report: ReportData, path: Path) -> Path:
    """Draw the report's chart as a PNG at ``path``; returns ``path``."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ChartUnavailableError(
            f"{path.name} not drawn: matplotlib is not installed",
            hint="install the charts extra (pip install 'mesh-tools[charts]') to draw it",
        ) from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = report["run"]
    categories = report["categories"]
    names = list(categories)
    k = run["trials"]
    figure, (success_axis, calls_axis) = plt.subplots(
        1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]}
    )
    try:
        width = 0.38
        bars: tuple[tuple[float, CategoryRateKey, str], ...] = (
            (-width / 2, "pass_at_1", "pass@1"),
            (width / 2, "pass_hat_k", f"pass^{k}"),
        )
        for offset, key, label in bars:
            rates = [categories[name][key] for name in names]
            values = [rate["value"] or 0.0 for rate in rates]
            errors = [
                [value - rate["low"] for value, rate in zip(values, rates, strict=True)],
                [rate["high"] - value for value, rate in zip(values, rates, strict=True)],
            ]
            positions = [index + offset for index in range(len(names))]
            success_axis.bar(positions, values, width, yerr=errors, capsize=3, label=label)
        success_axis.set_xticks(range(len(names)), [name.replace("_", "-") for name in names], rotation=20)
        success_axis.set_ylim(0, 1.18)
        success_axis.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        success_axis.set_ylabel("task success (95% Wilson CI)")
        success_axis.legend(loc="upper center", ncols=2, frameon=False)
        success_axis.set_title("Success by category")

        outcomes = {name: count for name, count in report["calls"]["outcomes"].items() if count}
        calls_axis.barh(list(outcomes), list(outcomes.values()), color="tab:gray")
        calls_axis.invert_yaxis()
        calls_axis.set_xlabel("tool calls")
        calls_axis.set_title(f"Tool call outcomes ({report['calls']['total']})")

        title = f"{run['suite']}: {run['model']} ({run['api']}), {run['started_at'][:10]}"
        if not report["model_result"]:
            title += f"\n{run['label']}"
        figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
