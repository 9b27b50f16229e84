"""What a run cost in money: a per-model price table, and the cost of a usage under it.

Prices are US dollars per million tokens, in three rates: fresh input, cached input (the part of the
input the provider served from its prompt cache) and output. Reasoning tokens are billed, and
reported, as output. The table is OpenAI's published standard rates (https://openai.com/api/pricing,
checked on :data:`PRICES_AS_OF`) for prompts under their long-context threshold, without Batch or
data-residency adjustments; a model it does not list has no cost unless you give its price
(``mesh-tools eval --price IN CACHED OUT``). Check the provider's page before quoting a figure: prices
change, and another endpoint (a proxy, a local server) bills differently or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..agent import Usage

__all__ = ["PRICES", "PRICES_AS_OF", "Price", "cost_usd", "price_of"]

#: When the table was last checked against the provider's page.
PRICES_AS_OF = "2026-04-30"


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float

    def cost(self, usage: Usage) -> float:
        """The price of ``usage``: cached input at its own rate, the rest of the input at the full one."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        fresh = usage.input_tokens - cached
        return (fresh * self.input + cached * self.cached_input + usage.output_tokens * self.output) / 1e6


#: Standard rates by model id (a dated snapshot such as ``gpt-5.4-mini-2026-03-17`` uses its family's).
PRICES: Mapping[str, Price] = {
    "gpt-5.5": Price(5.00, 0.50, 30.00),
    "gpt-5.4": Price(2.50, 0.25, 15.00),
    "gpt-5.4-mini": Price(0.75, 0.075, 4.50),
    "gpt-5": Price(1.25, 0.125, 10.00),
    "gpt-5-mini": Price(0.25, 0.025, 2.00),
    "gpt-5-nano": Price(0.05, 0.005, 0.40),
    "gpt-4.1": Price(2.00, 0.50, 8.00),
    "gpt-4.1-mini": Price(0.40, 0.10, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.025, 0.40),
    "gpt-4o": Price(2.50, 1.25, 10.00),
    "gpt-4o-mini": Price(0.15, 0.075, 0.60),
}


def price_of(model: str, table: Mapping[str, Price] = PRICES) -> Price | None:
    """The price of ``model``, or of the longest listed id it is a dated snapshot of; None if unlisted."""
    if model in table:
        return table[model]
    family = max((name for name in table if model.startswith(f"{name}-20")), key=len, default=None)
    return None if family is None else table[family]


def cost_usd(usage: Usage, price: Price | None) -> float | None:
    """What ``usage`` cost, or None when the price is unknown."""
    return None if price is None else price.cost(usage)
