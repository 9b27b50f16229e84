"""Checking tool arguments against the advertised schema, and explaining failures in the model's terms.

Acceptance runs a validator compiled from the schema into Python (:mod:`._schema_check`): jsonschema's
interpreter costs more than the CRDT edit it guards. Explanations run jsonschema itself (the reference
implementation; tests check both agree) and turn its first error into a typed
:class:`~mesh_tools.errors.MeshError` whose hint lists what would be valid at that spot: the tags
allowed there, the element's attributes and their types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from jsonschema import Draft202012Validator, ValidationError

from ..errors import InvalidValueError, MeshError
from ..schema import ID_ATTRIBUTE, MeshSchema, rules
from ._arguments import TAG_KEY
from ._schema_check import compile_schema, json_equal

__all__ = ["ArgumentChecker", "ArgumentKind"]

#: How an argument is explained: a plain value, a typed element subtree, an attribute assignment
#: (``{"name", "value"}``), or an attribute name.
ArgumentKind: TypeAlias = Literal["value", "element", "attribute", "attribute_name"]


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
