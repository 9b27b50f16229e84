"""Text as Yjs holds it, read as a plain string and mark spans: the form document JSON shows.

Yjs keeps formatting as attributes on runs of characters; readers want "bold from 0 to 5". Used by the
JSON writer (through ``_pycrdt``'s fast read) and by the text API, so both print marks the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["MARKS_KEY", "Chunks", "MarkSpan", "read_chunks"]

#: The key under which document JSON and ``describe_document`` list an element's marks.
MARKS_KEY = "$marks"

#: Text as pycrdt's ``diff()`` gives it: (characters or an embedded object, formatting attributes).
Chunks: TypeAlias = Iterable[tuple[Any, Mapping[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class MarkSpan:
    """One mark over characters ``start`` to ``end`` (excluded), with the mark's attributes."""

    mark: str
    start: int
    end: int
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"mark", "start", "end", **attributes}``: the form document JSON lists under ``$marks``."""
        return {"mark": self.mark, "start": self.start, "end": self.end, **self.attributes}


def read_chunks(chunks: Chunks) -> tuple[str, list[MarkSpan]]:
    """The plain text and its marks, merged into maximal spans, from pycrdt ``diff()`` chunks.

    Embedded objects are skipped (validation reports them); they take no character offset.
    """
    parts: list[str] = []
    spans: list[MarkSpan] = []
    open_spans: dict[str, MarkSpan] = {}
    position = 0
    for value, attributes in chunks:
        if not isinstance(value, str):
            continue
        end = position + len(value)
        marks = attributes or {}
        for name in list(open_spans):
            if name not in marks:
                spans.append(open_spans.pop(name))
        for name, raw in marks.items():
            if raw is None:
                continue
            span_attributes = dict(raw) if isinstance(raw, Mapping) else {}
            current = open_spans.get(name)
            if current is not None and dict(current.attributes) == span_attributes:
                open_spans[name] = MarkSpan(name, current.start, end, span_attributes)
                continue
            if current is not None:
                spans.append(current)
            open_spans[name] = MarkSpan(name, position, end, span_attributes)
        parts.append(value)
        position = end
    spans.extend(open_spans.values())
    spans.sort(key=lambda span: (span.start, span.mark))
    return "".join(parts), spans
