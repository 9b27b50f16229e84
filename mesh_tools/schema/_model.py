"""The schema model: element types, their attributes and children, and the schema's JSON form.

The API and the JSON shape follow MeshAgent's ``meshagent.api.schema`` so that its schema files and
programs work unchanged; validation is stricter and every error names the problem and the fix.

``to_json()`` emits MeshAgent's shape: each element is a one-key wrapper object ``{tag: {...}}`` under
``$defs``, the root is also inlined at the top level and ``$root_tag_ref`` points at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

from ..errors import SchemaError
from ._rules import ID_ATTRIBUTE, value_fits

__all__ = [
    "ChildProperty",
    "ElementType",
    "MeshSchema",
    "Property",
    "SimpleValue",
    "TextMark",
    "TextProperty",
    "ValueProperty",
]

SimpleValue: TypeAlias = Literal["string", "number", "integer", "boolean", "null"]
_SIMPLE_VALUES: tuple[str, ...] = get_args(SimpleValue)

_TAG_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")


@dataclass(frozen=True, init=False)
class ValueProperty:
    """An attribute that holds one JSON value of a simple type, optionally restricted to an enum."""

    name: str
    type: SimpleValue
    description: str | None = None
    enum: tuple[str | int | float | bool, ...] | None = None

    def __init__(
        self,
        *,
        name: str,
        type: SimpleValue,
        description: str | None = None,
        enum: Sequence[str | int | float | bool] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise SchemaError(
                f"invalid property name {name!r}",
                hint="start with a letter or '_' and use letters, digits, '_', '-', '.', ':'",
            )
        if type not in _SIMPLE_VALUES:
            raise SchemaError(
                f"property {name!r} has unknown type {type!r}",
                hint=f"use one of {', '.join(_SIMPLE_VALUES)}",
            )
        if enum is not None:
            if len(enum) == 0:
                raise SchemaError(f"property {name!r} has an empty enum", hint="list at least one value")
            wrong = [v for v in enum if not value_fits(v, type)]
            if wrong:
                raise SchemaError(
                    f"enum of property {name!r} has values that are not of type {type!r}: {wrong!r}",
                    hint=f"every enum value must be a {type}",
                )
            if len(set(enum)) != len(enum):
                raise SchemaError(f"enum of property {name!r} repeats a value", hint="list each value once")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "enum", tuple(enum) if enum is not None else None)

    def accepts(self, value: object) -> bool:
        """Whether ``value`` may be stored in this attribute."""
        if not value_fits(value, self.type):
            return False
        return self.enum is None or value in self.enum

    def describe_allowed(self) -> str:
        """What this attribute accepts, in words a person or a model can act on."""
        if self.enum is not None:
            return f"{self.name}: one of {', '.join(json.dumps(v) for v in self.enum)}"
        return f"{self.name}: {self.type}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.enum is not None:
            data["enum"] = list(self.enum)
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True, init=False)
class ChildProperty:
    """The property that holds an element's children, listing the tags allowed as children.

    ``ordered=True`` is MeshAgent's positional form: child *i* must have ``child_tag_names[i]``.
    """

    name: str
    child_tag_names: tuple[str, ...]
    description: str | None = None
    ordered: bool = False

    def __init__(
        self,
        *,
        name: str,
        child_tag_names: Sequence[str],
        description: str | None = None,
        ordered: bool = False,
    ) -> None:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise SchemaError(
                f"invalid child property name {name!r}",
                hint="start with a letter or '_' and use letters, digits, '_', '-', '.', ':'",
            )
        if isinstance(child_tag_names, str):
            raise SchemaError(
                f"child_tag_names of {name!r} must be a list of tags, not the string {child_tag_names!r}",
                hint=f"write child_tag_names=[{child_tag_names!r}]",
            )
        if len(child_tag_names) == 0:
            raise SchemaError(
                f"child property {name!r} allows no child tags",
                hint="list at least one tag, or drop the child property",
            )
        if not ordered and len(set(child_tag_names)) != len(child_tag_names):
            raise SchemaError(f"child property {name!r} lists a tag twice", hint="list each tag once")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "child_tag_names", tuple(child_tag_names))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "ordered", ordered)

    def to_json(self) -> dict[str, Any]:
        refs = [{"$ref": f"#/$defs/{tag}"} for tag in self.child_tag_names]
        data: dict[str, Any] = (
            {"type": "array", "prefixItems": refs, "items": False}
            if self.ordered
            else {"type": "array", "items": {"anyOf": refs}}
        )
        if self.description:
            data["description"] = self.description
        return data


#: The JSON Schema ``format`` that marks a string property as collaborative text (see ADR 0013). A
#: reader that does not know it, such as MeshAgent, still loads the property as a plain string.
TEXT_FORMAT = "mesh-text"
#: Keys a mark span uses in document JSON (``$marks``); a mark attribute may not take these names.
_SPAN_KEYS = frozenset({"mark", "start", "end"})


@dataclass(frozen=True, init=False)
class TextMark:
    """A formatting mark text may carry (``bold``, ``link``), with the string attributes it takes."""

    name: str
    attributes: tuple[str, ...] = ()

    def __init__(self, name: str, attributes: Sequence[str] = ()) -> None:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise SchemaError(
                f"invalid mark name {name!r}",
                hint="start with a letter or '_' and use letters, digits, '_', '-'",
            )
        if isinstance(attributes, str):
            raise SchemaError(
                f"the attributes of mark {name!r} must be a list of names, not the string {attributes!r}",
                hint=f"write attributes=[{attributes!r}]",
            )
        bad = [
            a for a in attributes if not isinstance(a, str) or not _NAME_PATTERN.match(a) or a in _SPAN_KEYS
        ]
        if bad:
            raise SchemaError(
                f"mark {name!r} has invalid attribute names {bad!r}",
                hint="use names that start with a letter; 'mark', 'start' and 'end' are taken",
            )
        if len(set(attributes)) != len(attributes):
            raise SchemaError(f"mark {name!r} lists an attribute twice", hint="list each attribute once")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "attributes", tuple(attributes))

    def describe_allowed(self) -> str:
        """The mark and what it takes, in words a person or a model can act on."""
        return f"{self.name}({', '.join(self.attributes)})" if self.attributes else self.name


@dataclass(frozen=True, init=False)
class TextProperty:
    """The element's collaborative text: a Yjs text that merges concurrent edits character by character.

    ``marks`` lists the formatting the text may carry: a name (``"bold"``) or a :class:`TextMark` with
    string attributes (``TextMark("link", ["href"])``). Document JSON shows the text as a plain string
    and its marks under ``$marks``; see docs/adr/0013-collaborative-text.md.
    """

    name: str
    marks: tuple[TextMark, ...] = ()
    description: str | None = None
    allowed_marks: Mapping[str, TextMark] = field(default_factory=dict, compare=False, repr=False)

    def __init__(
        self, *, name: str, marks: Sequence[str | TextMark] = (), description: str | None = None
    ) -> None:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise SchemaError(
                f"invalid text property name {name!r}",
                hint="start with a letter or '_' and use letters, digits, '_', '-', '.', ':'",
            )
        if isinstance(marks, str):
            raise SchemaError(
                f"marks of {name!r} must be a list, not the string {marks!r}", hint=f"write marks=[{marks!r}]"
            )
        normalized = tuple(mark if isinstance(mark, TextMark) else TextMark(mark) for mark in marks)
        by_name = {mark.name: mark for mark in normalized}
        if len(by_name) != len(normalized):
            raise SchemaError(f"text property {name!r} lists a mark twice", hint="list each mark once")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "marks", normalized)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "allowed_marks", by_name)

    def describe_marks(self) -> str:
        """The marks this text allows, or ``none``."""
        return ", ".join(mark.describe_allowed() for mark in self.marks) or "none"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "string",
            "format": TEXT_FORMAT,
            "marks": {mark.name: list(mark.attributes) for mark in self.marks},
        }
        if self.description:
            data["description"] = self.description
        return data


Property: TypeAlias = ValueProperty | ChildProperty | TextProperty


@dataclass(frozen=True, init=False)
class ElementType:
    """One kind of element: its tag, its attributes and at most one child property."""

    tag_name: str
    properties: tuple[Property, ...]
    description: str | None = None
    child_property: ChildProperty | None = field(default=None, compare=False, repr=False)
    text_property: TextProperty | None = field(default=None, compare=False, repr=False)
    attributes: Mapping[str, ValueProperty] = field(default_factory=dict, compare=False, repr=False)

    def __init__(
        self,
        *,
        tag_name: str,
        properties: Iterable[Property] = (),
        description: str | None = None,
    ) -> None:
        if not isinstance(tag_name, str) or not _TAG_PATTERN.match(tag_name):
            raise SchemaError(
                f"invalid tag name {tag_name!r}",
                hint="start with a letter or '_' and use letters, digits, '_', '-', '.'",
            )
        props = tuple(properties)
        child_props = [p for p in props if isinstance(p, ChildProperty)]
        if len(child_props) > 1:
            raise SchemaError(
                f"element {tag_name!r} has {len(child_props)} child properties "
                f"({', '.join(p.name for p in child_props)})",
                hint="an element has at most one ChildProperty; list every allowed tag in it",
            )
        text_props = [p for p in props if isinstance(p, TextProperty)]
        if len(text_props) > 1 or (text_props and child_props):
            raise SchemaError(
                f"element {tag_name!r} declares text beside "
                f"{'another text property' if len(text_props) > 1 else 'a child property'}",
                hint="an element holds either one TextProperty or child elements; put the text in a child",
            )
        seen: set[str] = set()
        for prop in props:
            if not isinstance(prop, ValueProperty | ChildProperty | TextProperty):
                raise SchemaError(
                    f"element {tag_name!r} has a property of type {type(prop).__name__}",
                    hint="use ValueProperty, ChildProperty or TextProperty",
                )
            if prop.name in seen:
                raise SchemaError(
                    f"element {tag_name!r} defines property {prop.name!r} twice",
                    hint="give each property a unique name",
                )
            if prop.name == ID_ATTRIBUTE:
                raise SchemaError(
                    f"element {tag_name!r} uses the reserved property name {ID_ATTRIBUTE!r}",
                    hint="element ids are managed by the document; choose another name",
                )
            seen.add(prop.name)
        object.__setattr__(self, "tag_name", tag_name)
        object.__setattr__(self, "properties", props)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "child_property", child_props[0] if child_props else None)
        object.__setattr__(self, "text_property", text_props[0] if text_props else None)
        object.__setattr__(self, "attributes", {p.name: p for p in props if isinstance(p, ValueProperty)})

    def allows_child(self, tag_name: str) -> bool:
        """Whether an element of ``tag_name`` may be a child of this element (position aside)."""
        return self.child_property is not None and tag_name in self.child_property.child_tag_names

    def to_json(self) -> dict[str, Any]:
        """The definition as MeshAgent emits it: a wrapper object whose single key is the tag."""
        inner = {
            "type": "object",
            "additionalProperties": False,
            "required": [p.name for p in self.properties],
            "properties": {p.name: p.to_json() for p in self.properties},
        }
        wrapper: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "required": [self.tag_name],
            "properties": {self.tag_name: inner},
        }
        if self.description:
            wrapper["description"] = self.description
        return wrapper


class MeshSchema:
    """A set of element types with one root; immutable once built and validated as a whole."""

    def __init__(self, *, root_tag_name: str, elements: Iterable[ElementType]) -> None:
        self.root_tag_name = root_tag_name
        self.elements: tuple[ElementType, ...] = tuple(elements)
        by_tag: dict[str, ElementType] = {}
        for element in self.elements:
            if not isinstance(element, ElementType):
                raise SchemaError(
                    f"elements must be ElementType objects, got {type(element).__name__}",
                    hint="build each element with ElementType(tag_name=..., properties=[...])",
                )
            if element.tag_name in by_tag:
                raise SchemaError(
                    f"element {element.tag_name!r} is defined twice", hint="define each tag once"
                )
            by_tag[element.tag_name] = element
        self._by_tag = by_tag
        if root_tag_name not in by_tag:
            raise SchemaError(
                f"the root tag {root_tag_name!r} is not among the elements",
                hint=f"define it, or use one of {', '.join(sorted(by_tag)) or '(none defined)'}",
            )
        for element in self.elements:
            child = element.child_property
            if child is None:
                continue
            unknown = [t for t in child.child_tag_names if t not in by_tag]
            if unknown:
                raise SchemaError(
                    f"element {element.tag_name!r} allows children of undefined tags: {', '.join(unknown)}",
                    hint=f"define them, or pick from {', '.join(sorted(by_tag))}",
                )

    @property
    def root(self) -> ElementType:
        """The element type of the document's root."""
        return self._by_tag[self.root_tag_name]

    @property
    def tag_names(self) -> list[str]:
        return list(self._by_tag)

    def element(self, tag_name: str) -> ElementType:
        """The element type for ``tag_name``; raises SchemaError naming the known tags."""
        try:
            return self._by_tag[tag_name]
        except KeyError:
            raise SchemaError(
                f"unknown tag {tag_name!r}", hint=f"known tags: {', '.join(self._by_tag)}"
            ) from None

    def has_element(self, tag_name: str) -> bool:
        return tag_name in self._by_tag

    def __contains__(self, tag_name: object) -> bool:
        return tag_name in self._by_tag

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MeshSchema) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __repr__(self) -> str:
        return f"MeshSchema(root_tag_name={self.root_tag_name!r}, elements=[{', '.join(self._by_tag)}])"

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The schema as JSON Schema in MeshAgent's shape (LLM-ready, loads back with from_json)."""
        root = self.root.to_json()
        data: dict[str, Any] = {"$root_tag_ref": f"#/$defs/{self.root_tag_name}"}
        data.update({k: v for k, v in root.items()})
        data["$defs"] = {element.tag_name: element.to_json() for element in self.elements}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeshSchema:
        """Load a schema from its JSON form (ours or MeshAgent's); the inverse of ``to_json``."""
        if not isinstance(data, Mapping):
            raise SchemaError("a schema must be a JSON object", hint="pass the parsed schema file")
        ref = data.get("$root_tag_ref")
        defs = data.get("$defs")
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            raise SchemaError(
                "the schema has no '$root_tag_ref' of the form '#/$defs/<tag>'",
                hint="is this a MeshSchema JSON file?",
            )
        if not isinstance(defs, Mapping) or not defs:
            raise SchemaError("the schema has no '$defs'", hint="is this a MeshSchema JSON file?")
        elements = [_element_from_json(key, definition) for key, definition in defs.items()]
        return cls(root_tag_name=ref.removeprefix("#/$defs/"), elements=elements)

    @classmethod
    def from_file(cls, path: str | Path) -> MeshSchema:
        """Load a schema JSON file; errors name the file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SchemaError(f"cannot read schema file {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise SchemaError(f"schema file {path} is not valid JSON: {exc}") from exc
        try:
            return cls.from_json(data)
        except SchemaError as exc:
            raise SchemaError(f"{path}: {exc.message}", hint=exc.hint) from exc


def _element_from_json(key: str, definition: Any) -> ElementType:
    where = f"$defs/{key}"
    if not isinstance(definition, Mapping):
        raise SchemaError(f"{where} is not an object")
    wrapper_props = definition.get("properties")
    if not isinstance(wrapper_props, Mapping) or len(wrapper_props) != 1:
        raise SchemaError(
            f"{where} must have exactly one property, the element's tag",
            hint='expected {"properties": {"<tag>": {...}}}',
        )
    ((tag, inner),) = wrapper_props.items()
    if not isinstance(inner, Mapping) or not isinstance(inner.get("properties", {}), Mapping):
        raise SchemaError(f"{where}/properties/{tag} must be an object with 'properties'")
    properties = [
        _property_from_json(f"{where}/properties/{tag}/properties/{name}", name, spec)
        for name, spec in inner.get("properties", {}).items()
    ]
    return ElementType(tag_name=tag, properties=properties, description=definition.get("description"))


def _property_from_json(where: str, name: str, spec: Any) -> Property:
    if not isinstance(spec, Mapping):
        raise SchemaError(f"{where} is not an object")
    type_ = spec.get("type")
    description = spec.get("description")
    if type_ == "array":
        if "prefixItems" in spec:
            refs, ordered = spec["prefixItems"], True
        else:
            items = spec.get("items")
            refs = items.get("anyOf") if isinstance(items, Mapping) else None
            ordered = False
        if not isinstance(refs, list):
            raise SchemaError(
                f"{where} is an array without 'items.anyOf' or 'prefixItems'",
                hint='children are written {"type": "array", "items": {"anyOf": [{"$ref": ...}]}}',
            )
        tags = []
        for ref in refs:
            target = ref.get("$ref") if isinstance(ref, Mapping) else None
            if not isinstance(target, str) or not target.startswith("#/$defs/"):
                raise SchemaError(f"{where} lists a child that is not a '#/$defs/<tag>' reference: {ref!r}")
            tags.append(target.removeprefix("#/$defs/"))
        return ChildProperty(name=name, child_tag_names=tags, description=description, ordered=ordered)
    if type_ is None:
        raise SchemaError(f"{where} has no 'type'", hint=f"use one of {', '.join(_SIMPLE_VALUES)}")
    if type_ == "string" and spec.get("format") == TEXT_FORMAT:
        return _text_from_json(where, name, spec, description)
    return ValueProperty(
        name=name, type=cast(SimpleValue, type_), description=description, enum=spec.get("enum")
    )


def _text_from_json(where: str, name: str, spec: Mapping[str, Any], description: str | None) -> TextProperty:
    marks = spec.get("marks", {})
    if not isinstance(marks, Mapping) or not all(isinstance(a, list) for a in marks.values()):
        raise SchemaError(
            f"{where}/marks must map each mark to the list of its attributes",
            hint='write "marks": {"bold": [], "link": ["href"]}',
        )
    return TextProperty(
        name=name,
        marks=[TextMark(mark, attributes) for mark, attributes in marks.items()],
        description=description,
    )
