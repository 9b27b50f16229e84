"""State checks on an episode's final document: what a task counts as success.

Each check is one YAML mapping, told apart by its key:

```yaml
- count: "column > task"            # number of matches: equals / min / max
  equals: 3
- attribute: "task[title='Ship']"   # every match (at least one) has name = value
  name: status
  equals: done                      # or contains: "text" / absent: true
- children: "column:first"          # the one match's child tags, in order
  tags: [task, task]
- unchanged: true                   # the final document equals the starting one
- expr: "all(t['points'] <= 8 for t in select('task'))"   # restricted Python, see expressions.py
- rejected_writes: 0                # at most this many writes the toolkit rejected in the episode
```

Every check may carry ``why:`` (shown in reports when it fails).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)

from ._expressions import ExpressionError, compile_predicate
from ._keyed_union import by_key
from ._report_data import CheckData
from ._selectors import Node, SelectorError, json_equal, parse_selector, select, tree

__all__ = [
    "AttributeCheck",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "ChildrenCheck",
    "CountCheck",
    "ExpressionCheck",
    "RejectedWritesCheck",
    "UnchangedCheck",
]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What checks look at: the final and starting documents (JSON without ids) and the episode."""

    final: Mapping[str, Any]
    start: Mapping[str, Any]
    rejected_writes: int
    """Write calls the toolkit rejected during the episode, all agents together."""
    root: Node = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", tree(self.final))


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One check's verdict, with what was found when it failed."""

    check: str
    passed: bool
    detail: str | None = None

    def to_dict(self) -> CheckData:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    why: str | None = None
    """What the check is for, shown in reports when it fails."""

    @abstractmethod
    def describe(self) -> str:
        """The check in one line, as reports show it."""

    def evaluate(self, context: CheckContext) -> CheckOutcome:
        passed, detail = self._verdict(context)
        if not passed and self.why:
            detail = f"{detail} ({self.why})" if detail else self.why
        return CheckOutcome(self.describe(), passed, None if passed else detail)

    @abstractmethod
    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        """Whether the check holds, and what was found (shown only when it does not)."""


def valid_selector(value: str) -> str:
    """``value`` if it parses as a selector; a pydantic field validator for selector fields."""
    try:
        parse_selector(value)
    except SelectorError as error:
        raise ValueError(str(error)) from error
    return value


class CountCheck(_Check):
    """The number of elements a selector matches."""

    count: str
    equals: Annotated[int, Field(ge=0)] | None = None
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    _valid_selector = field_validator("count")(valid_selector)

    @model_validator(mode="after")
    def _one_bound(self) -> CountCheck:
        if self.equals is None and self.min is None and self.max is None:
            raise ValueError("a count check needs equals, min or max")
        if self.equals is not None and (self.min is not None or self.max is not None):
            raise ValueError("a count check has either equals or min/max")
        return self

    def describe(self) -> str:
        if self.equals is not None:
            return f"count({self.count}) == {self.equals}"
        bounds = [f">= {self.min}"] if self.min is not None else []
        bounds += [f"<= {self.max}"] if self.max is not None else []
        return f"count({self.count}) {' and '.join(bounds)}"

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        found = len(select(context.root, self.count))
        passed = (
            found == self.equals
            if self.equals is not None
            else (self.min is None or found >= self.min) and (self.max is None or found <= self.max)
        )
        return passed, f"found {found}"


class AttributeCheck(_Check):
    """An attribute of every element a selector matches (at least one must match)."""

    attribute: str
    name: Annotated[str, Field(min_length=1)]
    equals: JsonValue = None
    contains: str | None = None
    absent: Literal[True] | None = None

    _valid_selector = field_validator("attribute")(valid_selector)

    @model_validator(mode="after")
    def _one_expectation(self) -> AttributeCheck:
        given = [key for key in ("equals", "contains", "absent") if key in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("an attribute check has exactly one of equals, contains, absent")
        return self

    def describe(self) -> str:
        if self.absent:
            return f"{self.attribute} has no {self.name}"
        if self.contains is not None:
            return f"{self.attribute}.{self.name} contains {self.contains!r}"
        return f"{self.attribute}.{self.name} == {self.equals!r}"

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        matches = select(context.root, self.attribute)
        if not matches:
            return False, "no element matches"
        for node in matches:
            value = node.attributes.get(self.name)
            if self.absent:
                ok = self.name not in node.attributes
            elif self.contains is not None:
                ok = isinstance(value, str) and self.contains.casefold() in value.casefold()
            else:
                ok = self.name in node.attributes and json_equal(value, self.equals)
            if not ok:
                shown = repr(value) if self.name in node.attributes else "unset"
                return False, f"<{node.tag}> has {self.name} {shown}"
        return True, None


class ChildrenCheck(_Check):
    """The tags of the children of the one element a selector matches, in order."""

    children: str
    tags: list[str]

    _valid_selector = field_validator("children")(valid_selector)

    def describe(self) -> str:
        return f"children of {self.children} are [{', '.join(self.tags)}]"

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        matches = select(context.root, self.children)
        if len(matches) != 1:
            return False, f"{len(matches)} elements match, expected exactly one"
        found = [child.tag for child in matches[0].children]
        return found == self.tags, f"found [{', '.join(found)}]"


class UnchangedCheck(_Check):
    """The final document equals the starting document (ids aside)."""

    unchanged: Literal[True]

    def describe(self) -> str:
        return "document unchanged"

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        return context.final == context.start, "the document was changed"


class ExpressionCheck(_Check):
    """A restricted Python expression over the final document (see ``expressions.py``)."""

    expr: Annotated[str, Field(min_length=1)]

    @field_validator("expr")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_predicate(value)
        except ExpressionError as error:
            raise ValueError(str(error)) from error
        return value

    def describe(self) -> str:
        return self.expr

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        try:
            return compile_predicate(self.expr).evaluate(context.final, context.start), "is false"
        except ExpressionError as error:
            return False, str(error)


class RejectedWritesCheck(_Check):
    """At most this many write calls were rejected in the episode (0 for a clean decline)."""

    rejected_writes: Annotated[int, Field(ge=0)]

    def describe(self) -> str:
        return f"rejected writes <= {self.rejected_writes}"

    def _verdict(self, context: CheckContext) -> tuple[bool, str | None]:
        return context.rejected_writes <= self.rejected_writes, f"{context.rejected_writes} rejected"


_KINDS = ("count", "attribute", "children", "unchanged", "expr", "rejected_writes")


#: One check, recognized by its key.
Check = Annotated[
    Annotated[CountCheck, Tag("count")]
    | Annotated[AttributeCheck, Tag("attribute")]
    | Annotated[ChildrenCheck, Tag("children")]
    | Annotated[UnchangedCheck, Tag("unchanged")]
    | Annotated[ExpressionCheck, Tag("expr")]
    | Annotated[RejectedWritesCheck, Tag("rejected_writes")],
    by_key(_KINDS, error_type="unknown_check", what="a check"),
]
