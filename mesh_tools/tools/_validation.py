"""Checking tool arguments against the advertised schema, and explaining failures in the model's terms.

Acceptance runs a validator compiled from the schema into plain Python checks: the generated schemas
use a small Draft 2020-12 vocabulary, and jsonschema's interpreter costs more than the CRDT edit it
guards. Explanations run jsonschema itself (the reference implementation; tests check both agree) and
turn its first error into a typed :class:`~mesh_tools.errors.MeshError` whose hint lists what would
be valid at that spot: the tags allowed there, the element's attributes and their types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from jsonschema import Draft202012Validator, ValidationError

from ..errors import InvalidValueError, MeshError, SchemaError
from ..schema import ID_ATTRIBUTE, MeshSchema, rules
from ._arguments import TAG_KEY

__all__ = ["ArgumentChecker", "ArgumentKind", "compile_schema"]

Check: TypeAlias = Callable[[Any], bool]

#: How an argument is explained: a plain value, a typed element subtree, an attribute assignment
#: (``{"name", "value"}``), or an attribute name.
ArgumentKind: TypeAlias = Literal["value", "element", "attribute", "attribute_name"]


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """Compile a schema in the strict vocabulary into a function that says whether an instance fits.

    Supports ``type``, ``properties``, ``required``, ``additionalProperties`` (false), ``items``,
    ``minItems``, ``maxItems``, ``anyOf``, ``enum``, ``const`` and ``$ref`` into ``$defs``; other
    keywords raise SchemaError rather than being silently ignored. A union whose branches all require
    a property with a string ``const`` (``$tag``, an attribute's ``name``) checks only the branches
    that value selects: the same answer as trying them all, without the cost.
    """
    defs: Mapping[str, Any] = schema.get("$defs", {})
    compiled: dict[str, Check] = {}

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        name = ref.removeprefix("#/$defs/")
        if not ref.startswith("#/$defs/") or name not in defs:
            raise SchemaError(f"$ref {ref!r} does not point into $defs")
        return resolve(defs[name])

    def reference(ref: str) -> Check:
        name = ref.removeprefix("#/$defs/")
        resolve({"$ref": ref})
        if name in compiled:
            return compiled[name]
        return lambda value: compiled[name](value)  # a definition not compiled yet (or recursive)

    def build(node: Mapping[str, Any]) -> Check:
        unknown = set(node) - _KEYWORDS
        if unknown:
            raise SchemaError(f"keywords {sorted(unknown)} are not supported by the argument validator")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(reference(node["$ref"]))
        is_object = "properties" in node or "required" in node or node.get("additionalProperties") is False
        # Fewer checks per value, same answers: an object check can require the object itself, and
        # string options imply the string type.
        if "type" in node and not (is_object and node["type"] == "object") and not _strings_only(node):
            checks.append(_type_check(node["type"]))
        if is_object:
            checks.append(_object_check(node, build, required_type=node.get("type") == "object"))
        if "items" in node:
            checks.append(_items_check(build(node["items"])))
        if "minItems" in node or "maxItems" in node:
            checks.append(_length_check(node.get("minItems", 0), node.get("maxItems")))
        if "anyOf" in node:
            checks.append(_union_check(node["anyOf"], build, resolve))
        if "enum" in node:
            checks.append(_enum_check(list(node["enum"])))
        if "const" in node:
            checks.append(_enum_check([node["const"]]))
        return _all(checks)

    for name, definition in defs.items():
        compiled[name] = build(definition)
    return build(schema)


_KEYWORDS = frozenset(
    {
        "$ref",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "anyOf",
        "enum",
        "const",
        "description",
        "title",
        "$defs",
    }
)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    return lambda value: all(each(value) for each in checks)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # Draft 2020-12: an integer is any number with a zero fractional part, 1.0 included.
    return _is_number(value) and float(value).is_integer()


#: Python types for the JSON types an isinstance check decides alone (bool is not a number).
_PLAIN_TYPES: dict[str, type] = {
    "string": str,
    "boolean": bool,
    "null": type(None),
    "object": dict,
    "array": list,
}


def _type_check(types: str | Sequence[str]) -> Check:
    names = [types] if isinstance(types, str) else list(types)
    unknown = [name for name in names if name not in _PLAIN_TYPES and name not in ("number", "integer")]
    if unknown or not names:
        raise SchemaError(f"unknown types {unknown or names}")
    plain = tuple(_PLAIN_TYPES[name] for name in names if name in _PLAIN_TYPES)
    if "number" in names:
        return lambda value: isinstance(value, plain) or _is_number(value)
    if "integer" in names:
        return lambda value: isinstance(value, plain) or _is_integer(value)
    return lambda value: isinstance(value, plain)


def _strings_only(node: Mapping[str, Any]) -> bool:
    """Whether the node's ``type`` is ``"string"`` and its ``const``/``enum`` allow only strings."""
    if node.get("type") != "string":
        return False
    if "const" in node:
        return isinstance(node["const"], str)
    return "enum" in node and all(isinstance(option, str) for option in node["enum"])


def _object_check(
    node: Mapping[str, Any], build: Callable[[Mapping[str, Any]], Check], *, required_type: bool
) -> Check:
    """The object keywords; with ``required_type`` (``"type": "object"``) also the type itself."""
    properties = {name: build(sub) for name, sub in node.get("properties", {}).items()}
    required = list(node.get("required", []))
    closed = node.get("additionalProperties") is False

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return not required_type  # object keywords do not apply to other types
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = properties.get(name)
            if sub is None:
                if closed:
                    return False
            elif not sub(item):
                return False
        return True

    return check


def _union_check(
    branches: Sequence[Mapping[str, Any]],
    build: Callable[[Mapping[str, Any]], Check],
    resolve: Callable[[Mapping[str, Any]], Mapping[str, Any]],
) -> Check:
    checks = [build(branch) for branch in branches]
    key = _discriminator([resolve(branch) for branch in branches])
    if key is None:
        return _any(checks)
    selected_by: dict[str, list[Check]] = {}
    for branch, compiled in zip(branches, checks, strict=True):
        selected_by.setdefault(resolve(branch)["properties"][key]["const"], []).append(compiled)
    by_value = {value: each[0] if len(each) == 1 else _any(each) for value, each in selected_by.items()}

    def dispatch(value: Any) -> bool:
        if not isinstance(value, dict):
            return False  # every branch requires an object
        selected = value.get(key)
        if not isinstance(selected, str):
            return False  # every branch requires the key with a string const
        branch = by_value.get(selected)
        return branch is not None and branch(value)

    return dispatch


def _any(checks: list[Check]) -> Check:
    return lambda value: any(check(value) for check in checks)


def _discriminator(branches: Sequence[Mapping[str, Any]]) -> str | None:
    """A property that every branch requires to be an object with a string ``const`` in it, if any."""
    first = branches[0]
    for key in first.get("properties", {}):
        if all(
            branch.get("type") == "object"
            and key in branch.get("required", ())
            and isinstance(branch.get("properties", {}).get(key, {}).get("const"), str)
            for branch in branches
        ):
            return str(key)
    return None


def _enum_check(options: list[Any]) -> Check:
    if all(isinstance(option, str) for option in options):
        strings = frozenset(options)
        return lambda value: isinstance(value, str) and value in strings
    return lambda value: any(json_equal(value, option) for option in options)


def _items_check(item: Check) -> Check:
    return lambda value: not isinstance(value, list) or all(item(element) for element in value)


def _length_check(minimum: int, maximum: int | None) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return True
        return len(value) >= minimum and (maximum is None or len(value) <= maximum)

    return check


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: ``1 == 1.0`` but ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


class ArgumentChecker:
    """Validates one tool's arguments; raises a MeshError that says what to change."""

    def __init__(
        self,
        tool_name: str,
        parameters: Mapping[str, Any],
        *,
        schema: MeshSchema,
        kinds: Mapping[str, ArgumentKind],
    ) -> None:
        self.tool_name = tool_name
        self._parameters = parameters
        self._schema = schema
        self._kinds = kinds
        self._accepts = compile_schema(parameters)
        self._validator = Draft202012Validator(dict(parameters))

    def check(self, arguments: Any) -> None:
        """Return if ``arguments`` fit the advertised schema, else raise a typed, hinted error."""
        if not self._accepts(arguments):
            raise self.explain(arguments)

    def explain(self, arguments: Any) -> MeshError:
        """The error to report for arguments that do not fit the schema."""
        error = self._first_error(self._parameters, arguments)
        if error is None:
            return InvalidValueError("the arguments do not fit the tool's schema", hint=self.signature())
        if not error.absolute_path:
            return self._explain_arguments(error)
        name = str(error.absolute_path[0])
        kind = self._kinds.get(name, "value")
        argument = self._parameters["properties"][name]
        if kind == "element":
            return self._explain_element(arguments[name], f"/{name}", None, _branches(argument))
        if kind == "attribute":
            return self._explain_attribute(arguments[name], f"/{name}", _branches(argument))
        if kind == "attribute_name" and len(error.absolute_path) == 1:
            return self._unknown_attribute(error.instance, f"/{name}")
        return InvalidValueError(
            f"{_pointer(error.absolute_path)}: {_show(error.instance)} is not valid; "
            f"expected {_expected(error.schema)}",
            hint=self.signature(),
        )

    def signature(self) -> str:
        """The tool's arguments in a few words, for hints."""
        parts = []
        for name, sub in self._parameters.get("properties", {}).items():
            kind = self._kinds.get(name, "value")
            if kind == "element":
                what = "an element object"
            elif kind == "attribute":
                what = '{"name", "value"}'
            else:
                what = _expected(sub)
            parts.append(f"{name} ({what})")
        return f"{self.tool_name} takes {', '.join(parts)}"

    # -- explanations --------------------------------------------------------------------------

    def _first_error(self, schema: Mapping[str, Any], instance: Any) -> ValidationError | None:
        # The shallowest error says the most about what is wrong; among equals keep jsonschema's order.
        errors = self._validator.evolve(schema=schema).iter_errors(instance)
        return min(errors, key=lambda error: len(error.absolute_path), default=None)

    def _explain_arguments(self, error: ValidationError) -> MeshError:
        arguments = error.instance
        if error.validator == "required" and isinstance(arguments, dict):
            missing = next(n for n in self._parameters["required"] if n not in arguments)
            return InvalidValueError(f"missing argument {missing!r}", hint=self.signature())
        if error.validator == "additionalProperties" and isinstance(arguments, dict):
            extra = next(n for n in arguments if n not in self._parameters["properties"])
            return InvalidValueError(f"unexpected argument {extra!r}", hint=self.signature())
        return InvalidValueError(
            f"the arguments must be a JSON object, not {_show(arguments)}", hint=self.signature()
        )

    def _explain_element(
        self, instance: Any, pointer: str, parent_tag: str | None, branches: list[Any]
    ) -> MeshError:
        allowed = [branch["$ref"].removeprefix("#/$defs/") for branch in branches]
        tag = instance.get(TAG_KEY) if isinstance(instance, dict) else None
        if not isinstance(tag, str):
            return InvalidValueError(
                f"{pointer}: an element is an object with {TAG_KEY!r} naming its tag, not {_show(instance)}",
                hint=f"tags allowed here: {', '.join(allowed)}",
            )
        if tag not in allowed:
            if tag not in self._schema:
                return rules.unknown_tag(tag, allowed, hint_label="tags allowed here", at=pointer)
            if parent_tag is None:
                return rules.not_insertable(tag, allowed, at=pointer)
            return rules.child_not_allowed(parent_tag, tag, allowed, at=pointer)
        definition = self._parameters["$defs"][tag]
        error = self._first_error(definition, instance)
        if error is None:
            return InvalidValueError(
                f"{pointer}: the <{tag}> does not fit the schema", hint=self._element_hint(tag)
            )
        if not error.absolute_path:
            return self._explain_body(tag, instance, definition, pointer, error)
        name = str(error.absolute_path[0])
        child = self._schema.element(tag).child_property
        if child is not None and name == child.name:
            children = instance[name]
            here = f"{pointer}/{name}"
            if len(error.absolute_path) >= 2:
                index = int(error.absolute_path[1])
                items = definition["properties"][name]["items"]
                return self._explain_element(children[index], f"{here}/{index}", tag, _branches(items))
            if error.validator == "maxItems":
                return rules.too_many_children(tag, child.child_tag_names, at=here)
            return InvalidValueError(
                f"{here}: must be a list of elements, not {_show(children)}",
                hint=f"children of <{tag}>: {', '.join(dict.fromkeys(child.child_tag_names))}",
            )
        text = self._schema.element(tag).text_property
        if text is not None and name == text.name:
            return rules.invalid_value(
                tag,
                name,
                _show(instance[name]),
                hint="expected a string, the element's text, or null for none",
                at=f"{pointer}/{name}",
            )
        prop = self._schema.element(tag).attributes[name]
        return rules.invalid_value(
            tag,
            name,
            _show(instance[name]),
            hint=f"expected {prop.describe_allowed()}, or null to leave it unset",
            at=f"{pointer}/{name}",
        )

    def _explain_body(
        self,
        tag: str,
        instance: dict[str, Any],
        definition: Mapping[str, Any],
        pointer: str,
        error: ValidationError,
    ) -> MeshError:
        if error.validator == "additionalProperties":
            extra = next(n for n in instance if n not in definition["properties"])
            if extra == ID_ATTRIBUTE:
                return rules.reserved_attribute(pointer, inserting=True)
            return rules.unknown_attribute(tag, extra, hint=self._element_hint(tag), at=pointer)
        missing = next(n for n in definition["required"] if n not in instance)
        return InvalidValueError(f"{pointer}: <{tag}> is missing {missing!r}", hint=self._element_hint(tag))

    def _explain_attribute(self, instance: Any, pointer: str, branches: list[Any]) -> MeshError:
        if not isinstance(instance, dict) or "name" not in instance:
            return InvalidValueError(
                f'{pointer}: expected {{"name": <attribute>, "value": <value>}}, not {_show(instance)}',
                hint=self._attributes_hint(),
            )
        name = instance["name"]
        matching = [b for b in branches if json_equal(b["properties"]["name"]["const"], name)]
        if not matching:
            return self._unknown_attribute(name, f"{pointer}/name")
        error = self._first_error(matching[0], instance)
        if error is not None and list(error.absolute_path) != ["value"] and "value" in instance:
            return InvalidValueError(
                f'{pointer}: expected exactly {{"name", "value"}}, not {_show(instance)}',
                hint=self._attributes_hint(),
            )
        options = "; ".join(
            f"{element.attributes[name].describe_allowed()} on <{element.tag_name}>"
            for element in self._schema.elements
            if name in element.attributes
        )
        shown = _show(instance["value"]) if "value" in instance else "nothing"
        return InvalidValueError(
            f"{pointer}/value: {shown} is not a valid value for {name!r}", hint=f"expected {options}"
        )

    def _unknown_attribute(self, name: Any, pointer: str) -> MeshError:
        if name == ID_ATTRIBUTE:
            return rules.reserved_attribute(pointer, inserting=False)
        return rules.no_element_has_attribute(_show(name), hint=self._attributes_hint(), at=pointer)

    def _attributes_hint(self) -> str:
        lines = []
        for element in self._schema.elements:
            if element.attributes:
                lines.append(f"<{element.tag_name}> {rules.attributes_hint(element.attributes)}")
        return "attributes: " + "; ".join(lines)

    def _element_hint(self, tag: str) -> str:
        element_type = self._schema.element(tag)
        allowed = rules.attributes_hint(element_type.attributes)
        hint = f"attributes of <{tag}> (list each, null when unset): {allowed}"
        child = element_type.child_property
        if child is not None:
            tags = ", ".join(dict.fromkeys(child.child_tag_names))
            hint += f"; children go in {child.name!r} ([] for none): {tags}"
        if element_type.text_property is not None:
            hint += f"; its text goes in {element_type.text_property.name!r} (a string)"
        return hint


def _branches(schema: Mapping[str, Any]) -> list[Any]:
    return list(schema["anyOf"]) if "anyOf" in schema else [schema]


def _pointer(path: Sequence[Any]) -> str:
    return "".join(f"/{part}" for part in path)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "nothing"
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    types = schema.get("type")
    if isinstance(types, list):
        return " or ".join(types)
    if isinstance(types, str):
        return types
    if "anyOf" in schema:
        return " or ".join(_expected(branch) for branch in schema["anyOf"])
    return "a value"
