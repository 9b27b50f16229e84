"""What a schema allows and the error each breach produces: the one statement of the rules.

The document checks writes and remote updates with these, and the tools explain rejected arguments with
them, so a model and a program that break the same rule read the same words. Tool errors name the
argument that broke the rule with a JSON pointer (``at``); document errors name none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import (
    ChildNotAllowedError,
    DocumentError,
    DocumentLimitError,
    InvalidValueError,
    MarkNotAllowedError,
    ReservedAttributeError,
    TextNotAllowedError,
    UnknownAttributeError,
    UnknownTagError,
)

if TYPE_CHECKING:
    from ._model import ElementType, MeshSchema, TextProperty, ValueProperty

__all__ = [
    "ID_ATTRIBUTE",
    "attribute_error",
    "attribute_props",
    "attributes_hint",
    "child_error",
    "child_not_allowed",
    "extra_root",
    "id_not_fresh",
    "id_not_removable",
    "id_not_settable",
    "id_reused",
    "invalid_value",
    "json_root_mismatch",
    "mark_error",
    "mark_not_allowed",
    "mark_value",
    "missing_id",
    "no_element_has_attribute",
    "not_insertable",
    "reserved_attribute",
    "text_embed",
    "text_error",
    "text_not_allowed",
    "text_split",
    "too_deep",
    "too_many_children",
    "too_many_elements",
    "unknown_attribute",
    "unknown_tag",
    "value_fits",
    "wrong_root",
]

#: The attribute that holds every element's id; no property may use the name.
ID_ATTRIBUTE = "$id"

_NO_ATTRIBUTES: Mapping[str, ValueProperty] = MappingProxyType({})


def value_fits(value: object, type_: str) -> bool:
    """JSON-typed check; booleans are not numbers, and integral floats count as integers."""
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if value != value or value in (float("inf"), float("-inf")):
        return False
    return type_ == "number" or float(value).is_integer()


def attribute_props(element_type: ElementType | None) -> Mapping[str, ValueProperty]:
    """The attributes an element may carry; none for a tag the schema does not define."""
    return element_type.attributes if element_type is not None else _NO_ATTRIBUTES


def attributes_hint(props: Mapping[str, ValueProperty]) -> str:
    """The attributes in ``props`` with what each accepts, or ``none``."""
    return ", ".join(p.describe_allowed() for p in props.values()) or "none"


# -- the checks -----------------------------------------------------------------------------------


def attribute_error(
    element_type: ElementType | None, tag: str, name: str, value: object
) -> DocumentError | None:
    """Why ``value`` may not be stored as ``tag.name`` (``$id`` aside), or None if it may."""
    props = attribute_props(element_type)
    prop = props.get(name)
    if prop is None:
        return unknown_attribute(tag, name, hint=f"attributes of <{tag}>: {attributes_hint(props)}")
    if not prop.accepts(value):
        return invalid_value(tag, name, repr(value), hint=f"expected {prop.describe_allowed()}")
    return None


def child_error(schema: MeshSchema, parent_tag: str, tag: str, position: int | None) -> DocumentError | None:
    """Why ``<tag>`` may not be a child of ``<parent_tag>`` at ``position``, or None if it may.

    ``position`` matters only for ordered children; None skips the position check.
    """
    if tag not in schema:
        return unknown_tag(tag, schema.tag_names, hint_label="known tags")
    child_prop = schema.element(parent_tag).child_property
    if child_prop is None:
        return ChildNotAllowedError(
            f"<{parent_tag}> cannot have children", hint="add the element to another parent"
        )
    if tag not in child_prop.child_tag_names:
        return child_not_allowed(parent_tag, tag, child_prop.child_tag_names)
    if child_prop.ordered and position is not None:
        names = child_prop.child_tag_names
        if position >= len(names) or names[position] != tag:
            expected = names[position] if position < len(names) else "nothing (the list is full)"
            return ChildNotAllowedError(
                f"<{parent_tag}> takes its children in order; position {position} must be {expected}",
                hint=f"children of <{parent_tag}> in order: {', '.join(names)}",
            )
    return None


def text_error(schema: MeshSchema, element_type: ElementType | None, tag: str) -> TextNotAllowedError | None:
    """Why ``<tag>`` may not hold text, or None if it may."""
    if element_type is not None and element_type.text_property is not None:
        return None
    return text_not_allowed(tag, [e.tag_name for e in schema.elements if e.text_property is not None])


def mark_value(text: TextProperty, name: str, value: object) -> object:
    """The canonical form of mark ``name`` = ``value`` as stored: True, or its attributes; None if invalid.

    A mark without attributes is stored as ``true`` (Quill's form); ``{}`` (y-prosemirror's form) is read
    as the same. A mark with attributes is an object holding exactly those attributes, as strings.
    """
    mark = text.allowed_marks.get(name)
    if mark is None:
        return None
    if not mark.attributes:
        return True if value is True or value == {} else None
    if (
        isinstance(value, Mapping)
        and set(value) == set(mark.attributes)
        and all(isinstance(v, str) for v in value.values())
    ):
        return dict(value)
    return None


def mark_error(text: TextProperty, tag: str, name: str, value: object) -> MarkNotAllowedError | None:
    """Why the text of ``<tag>`` may not carry mark ``name`` = ``value``, or None if it may."""
    if name not in text.allowed_marks:
        return mark_not_allowed(text, tag, name)
    if mark_value(text, name, value) is None:
        mark = text.allowed_marks[name]
        expected = (
            f"an object with {', '.join(repr(a) for a in mark.attributes)} as strings"
            if mark.attributes
            else "true"
        )
        return MarkNotAllowedError(
            f"{value!r} is not a valid value for mark {name!r}", hint=f"expected {expected}"
        )
    return None


# -- the errors -----------------------------------------------------------------------------------


def _at(pointer: str, message: str) -> str:
    return f"{pointer}: {message}" if pointer else message


def unknown_tag(tag: str, allowed: Iterable[str], *, hint_label: str, at: str = "") -> UnknownTagError:
    """A tag the schema does not define; the hint lists ``allowed`` under ``hint_label``."""
    return UnknownTagError(_at(at, f"unknown tag {tag!r}"), hint=f"{hint_label}: {', '.join(allowed)}")


def child_not_allowed(
    parent_tag: str, tag: str, allowed: Sequence[str], *, at: str = ""
) -> ChildNotAllowedError:
    """A defined tag that ``<parent_tag>`` does not take as a child."""
    return ChildNotAllowedError(
        _at(at, f"<{tag}> is not allowed inside <{parent_tag}>"),
        hint=f"children of <{parent_tag}>: {', '.join(allowed)}",
    )


def not_insertable(tag: str, allowed: Sequence[str], *, at: str = "") -> ChildNotAllowedError:
    """A defined tag that no element a tool call names as parent takes."""
    return ChildNotAllowedError(
        _at(at, f"<{tag}> cannot be inserted"), hint=f"elements you can insert: {', '.join(allowed)}"
    )


def text_not_allowed(tag: str, text_tags: Sequence[str]) -> TextNotAllowedError:
    """Text read, written or found on ``<tag>``, whose type declares none."""
    return TextNotAllowedError(
        f"<{tag}> holds no text", hint=f"elements with text: {', '.join(text_tags) or 'none in this schema'}"
    )


def mark_not_allowed(text: TextProperty, tag: str, name: str) -> MarkNotAllowedError:
    """A mark the text of ``<tag>`` does not list."""
    return MarkNotAllowedError(
        f"the text of <{tag}> does not allow the mark {name!r}",
        hint=f"marks of <{tag}>: {text.describe_marks()}",
    )


def text_split(tag: str) -> TextNotAllowedError:
    """A second text inside one element (from a raw update): one text per element is the layout."""
    return TextNotAllowedError(f"<{tag}> holds more than one text")


def text_embed(tag: str) -> TextNotAllowedError:
    """Something other than characters (an embed) inside an element's text (from a raw update)."""
    return TextNotAllowedError(f"the text of <{tag}> holds an embedded object, not only characters")


def too_many_children(tag: str, names: Sequence[str], *, at: str = "") -> ChildNotAllowedError:
    """More children than an ordered child list has positions."""
    return ChildNotAllowedError(
        _at(at, f"<{tag}> takes at most {len(names)} children"),
        hint=f"children of <{tag}> in order: {', '.join(names)}",
    )


def unknown_attribute(tag: str, name: str, *, hint: str, at: str = "") -> UnknownAttributeError:
    """An attribute ``<tag>`` does not have."""
    return UnknownAttributeError(_at(at, f"<{tag}> has no attribute {name!r}"), hint=hint)


def no_element_has_attribute(shown: str, *, hint: str, at: str = "") -> UnknownAttributeError:
    """An attribute name (``shown`` as the caller quotes it) that no element of the schema has."""
    return UnknownAttributeError(_at(at, f"no element has an attribute {shown}"), hint=hint)


def invalid_value(tag: str, name: str, shown: str, *, hint: str, at: str = "") -> InvalidValueError:
    """A value (``shown`` as the caller quotes it) that ``tag.name`` does not accept."""
    return InvalidValueError(_at(at, f"{shown} is not a valid value for {tag}.{name}"), hint=hint)


def id_not_settable() -> ReservedAttributeError:
    """A program tried to set ``$id`` on an element."""
    return ReservedAttributeError(
        f"{ID_ATTRIBUTE} is managed by the document and cannot be set",
        hint="ids are assigned when elements are created",
    )


def id_not_removable() -> ReservedAttributeError:
    """A program tried to remove ``$id`` from an element."""
    return ReservedAttributeError(f"{ID_ATTRIBUTE} cannot be removed", hint="delete the element instead")


def id_not_fresh(where: str, value: object) -> ReservedAttributeError:
    """Document JSON brought an ``$id`` that is empty, not a string or already in use."""
    return ReservedAttributeError(
        f"{where}: {ID_ATTRIBUTE} {value!r} is not a fresh id",
        hint="omit $id and let the document assign one",
    )


def id_reused(where: str, element_id: str) -> ReservedAttributeError:
    """Document JSON gave two of its elements the same ``$id``."""
    return ReservedAttributeError(f"{where}: id {element_id!r} is used twice", hint="omit $id")


def reserved_attribute(at: str, *, inserting: bool) -> ReservedAttributeError:
    """A tool call named ``$id``: in an element to insert, or as the attribute to set or remove."""
    if inserting:
        return ReservedAttributeError(
            _at(at, f"{ID_ATTRIBUTE} cannot be set"), hint="omit it; append_child returns the new ids"
        )
    return ReservedAttributeError(
        _at(at, f"{ID_ATTRIBUTE} is managed by the document"), hint="ids cannot be set or removed"
    )


def missing_id(tag: str) -> ReservedAttributeError:
    """An element (from a raw update) without a usable id: none, not a string, or another's."""
    return ReservedAttributeError(f"<{tag}> has a missing or duplicate id")


def too_deep(tag: str, max_depth: int) -> DocumentLimitError:
    """An element nested deeper than the document's depth limit (from a raw update)."""
    return DocumentLimitError(
        f"<{tag}> is nested deeper than {max_depth} levels, this document's limit",
        hint="keep documents shallower, or raise the limit (DocumentLimits.max_depth)",
    )


def too_many_elements(max_elements: int) -> DocumentLimitError:
    """An update or write that would take the document past its size limit."""
    return DocumentLimitError(
        f"the document would hold more than {max_elements:,} elements, its limit",
        hint="split the content over several documents, or raise the limit (DocumentLimits.max_elements)",
    )


def extra_root(tag: str) -> DocumentError:
    """A second element directly in the document's fragment (from a raw update)."""
    return DocumentError(f"extra root <{tag}>")


def wrong_root(tag: str, root_tag: str) -> UnknownTagError:
    """The fragment's element is not the schema's root (from a raw update)."""
    return UnknownTagError(f"the root is <{tag}>, not <{root_tag}>")


def json_root_mismatch(tag: str, root_tag: str) -> UnknownTagError:
    """Document JSON to load whose top key is not the schema's root tag."""
    return UnknownTagError(
        f"the document JSON starts with {tag!r}, the schema's root is {root_tag!r}",
        hint=f"wrap the content as {{{root_tag!r}: {{...}}}}",
    )
