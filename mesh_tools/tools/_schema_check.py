"""Tool argument schemas compiled into Python functions that say whether an instance fits.

The generated schemas use a small Draft 2020-12 vocabulary, and jsonschema's interpreter costs more
than the CRDT edit it guards. A schema becomes Python source, one function per ``$defs`` entry and
one for the root, compiled once per tool: an object's properties are checked inline, one after the
other, so checking a call's arguments costs a call or two, not a closure per keyword and property
(which cost a tenth of a tool call). The tests check that the answers are jsonschema's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..errors import SchemaError

__all__ = ["Check", "compile_schema", "json_equal"]

Check: TypeAlias = Callable[[Any], bool]

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

#: Python types for the JSON types an isinstance check decides alone (bool is not a number).
_PLAIN_TYPES: dict[str, str] = {
    "string": "str",
    "boolean": "bool",
    "null": "NoneType",
    "object": "dict",
    "array": "list",
}


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """Compile a schema in the strict vocabulary into a function that says whether an instance fits.

    Supports ``type``, ``properties``, ``required``, ``additionalProperties`` (false), ``items``,
    ``minItems``, ``maxItems``, ``anyOf``, ``enum``, ``const`` and ``$ref`` into ``$defs``; other
    keywords raise SchemaError rather than being silently ignored. A union whose branches all require
    a property with a string ``const`` (``$tag``, an attribute's ``name``) checks only the branches
    that value selects: the same answer as trying them all, without the cost.
    """
    defs = schema.get("$defs", {})
    source = _Source(defs)
    for name in defs:  # every definition, used or not, must be in the vocabulary
        source.reference(f"#/$defs/{name}")
    root = source.function(schema)
    namespace: dict[str, Any] = {
        "NoneType": type(None),
        "_is_number": _is_number,
        "_is_integer": _is_integer,
        "_equal_any": _equal_any,
        **source.constants,
    }
    exec(compile("\n".join(source.lines + source.late), "<argument schema>", "exec"), namespace)
    check: Check = namespace[root]
    return check


class _Source:
    """The Python source of a schema's checks: functions that return False as soon as a keyword fails."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.lines: list[str] = []
        #: Run once every function exists: a union's table may name a definition still being written.
        self.late: list[str] = []
        self.constants: dict[str, Any] = {}
        self._def_functions: dict[str, str] = {}
        self._names = 0

    def function(self, node: Mapping[str, Any]) -> str:
        """Emit a function checking ``node``; returns its name."""
        name = self._name("_check")
        body: list[str] = []
        self._statements(node, "v0", 0, body)
        self.lines += [f"def {name}(v0):", *(f"    {line}" for line in body), "    return True", ""]
        return name

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def _constant(self, value: Any) -> str:
        name = self._name("_k")
        self.constants[name] = value
        return name

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        return self._resolve(self.defs[self._def_name(ref)])

    def _def_name(self, ref: str) -> str:
        name = ref.removeprefix("#/$defs/")
        if not ref.startswith("#/$defs/") or name not in self.defs:
            raise SchemaError(f"$ref {ref!r} does not point into $defs")
        return name

    def reference(self, ref: str) -> str:
        """The function checking a ``$defs`` entry, emitted on first use (a recursive one calls itself)."""
        name = self._def_name(ref)
        self._resolve({"$ref": ref})
        function = self._def_functions.get(name)
        if function is None:
            function = self._def_functions[name] = self._name("_def")
            body: list[str] = []
            self._statements(self.defs[name], "v0", 0, body)
            self.lines += [f"def {function}(v0):", *(f"    {line}" for line in body), "    return True", ""]
        return function

    def _statements(self, node: Mapping[str, Any], var: str, depth: int, out: list[str]) -> None:
        """Append statements that ``return False`` unless ``var`` fits ``node`` (a failure anywhere in
        an instance fails all of it, so nested checks share the function; a union's branches do not)."""
        unknown = set(node) - _KEYWORDS
        if unknown:
            raise SchemaError(f"keywords {sorted(unknown)} are not supported by the argument validator")
        if "$ref" in node:
            out.append(f"if not {self.reference(node['$ref'])}({var}): return False")
        is_object = "properties" in node or "required" in node or node.get("additionalProperties") is False
        # Fewer checks per value, same answers: an object check can require the object itself, and
        # string options imply the string type.
        if "type" in node and not (is_object and node["type"] == "object") and not _strings_only(node):
            out.append(f"if not ({_type_test(node['type'], var)}): return False")
        if is_object:
            self._object(node, var, depth, out, required_type=node.get("type") == "object")
        if "items" in node:
            item = f"v{depth + 1}"
            inner: list[str] = []
            self._statements(node["items"], item, depth + 1, inner)
            if inner:
                out.append(f"if isinstance({var}, list):")
                out.append(f"    for {item} in {var}:")
                out += [f"        {line}" for line in inner]
        if "minItems" in node or "maxItems" in node:
            bounds = [f"len({var}) < {int(node.get('minItems', 0))}"]
            if node.get("maxItems") is not None:
                bounds.append(f"len({var}) > {int(node['maxItems'])}")
            out.append(f"if isinstance({var}, list) and ({' or '.join(bounds)}): return False")
        if "anyOf" in node:
            out.append(f"if not {self._union(node['anyOf'])}({var}): return False")
        if "enum" in node:
            out.append(f"if not ({self._options_test(list(node['enum']), var)}): return False")
        if "const" in node:
            out.append(f"if not ({self._options_test([node['const']], var)}): return False")

    def _object(
        self, node: Mapping[str, Any], var: str, depth: int, out: list[str], *, required_type: bool
    ) -> None:
        """The object keywords; with ``required_type`` (``"type": "object"``) also the type itself."""
        properties: Mapping[str, Any] = node.get("properties", {})
        required = list(node.get("required", []))
        body: list[str] = []
        if required:
            missing = " or ".join(f"{name!r} not in {var}" for name in required)
            body.append(f"if {missing}: return False")
        if node.get("additionalProperties") is False:
            body.append(f"if not {self._constant(frozenset(properties))}.issuperset({var}): return False")
        value = f"v{depth + 1}"
        for name, sub in properties.items():
            inner: list[str] = []
            self._statements(sub, value, depth + 1, inner)
            if not inner:
                continue
            if name in required:
                body.append(f"{value} = {var}[{name!r}]")
                body += inner
            else:
                body.append(f"if {name!r} in {var}:")
                body.append(f"    {value} = {var}[{name!r}]")
                body += [f"    {line}" for line in inner]
        if required_type:
            out.append(f"if not isinstance({var}, dict): return False")
            out += body
        elif body:  # object keywords do not apply to other types
            out.append(f"if isinstance({var}, dict):")
            out += [f"    {line}" for line in body]

    def _union(self, branches: Sequence[Mapping[str, Any]]) -> str:
        """A function that checks the branches of an ``anyOf``; returns its name."""
        checks = [
            self.reference(branch["$ref"]) if set(branch) == {"$ref"} else self.function(branch)
            for branch in branches
        ]
        key = _discriminator([self._resolve(branch) for branch in branches])
        name = self._name("_union")
        if key is None:
            self.lines += [f"def {name}(v0):", f"    return {' or '.join(f'{c}(v0)' for c in checks)}", ""]
            return name
        selected_by: dict[str, list[str]] = {}
        for branch, check in zip(branches, checks, strict=True):
            selected_by.setdefault(self._resolve(branch)["properties"][key]["const"], []).append(check)
        by_value = {
            value: each[0] if len(each) == 1 else self._any(each) for value, each in selected_by.items()
        }
        table = self._constant({})
        self.lines += [
            f"def {name}(v0):",
            "    if not isinstance(v0, dict): return False",  # every branch requires an object
            f"    selected = v0.get({key!r})",
            "    if not isinstance(selected, str): return False",  # ... with the key, a string const
            f"    branch = {table}.get(selected)",
            "    return branch is not None and branch(v0)",
            "",
        ]
        self.late += [f"{table}[{value!r}] = {check}" for value, check in by_value.items()]
        return name

    def _any(self, checks: list[str]) -> str:
        name = self._name("_any")
        self.lines += [f"def {name}(v0):", f"    return {' or '.join(f'{c}(v0)' for c in checks)}", ""]
        return name

    def _options_test(self, options: list[Any], var: str) -> str:
        if all(isinstance(option, str) for option in options):
            return f"isinstance({var}, str) and {var} in {self._constant(frozenset(options))}"
        return f"_equal_any({var}, {self._constant(options)})"


def _type_test(types: str | Sequence[str], var: str) -> str:
    names = [types] if isinstance(types, str) else list(types)
    unknown = [name for name in names if name not in _PLAIN_TYPES and name not in ("number", "integer")]
    if unknown or not names:
        raise SchemaError(f"unknown types {unknown or names}")
    plain = [_PLAIN_TYPES[name] for name in names if name in _PLAIN_TYPES]
    tests = []
    if plain:
        tests.append(f"isinstance({var}, ({', '.join(plain)},))")
    if "number" in names:
        tests.append(f"_is_number({var})")
    elif "integer" in names:
        tests.append(f"_is_integer({var})")
    return " or ".join(tests)


def _strings_only(node: Mapping[str, Any]) -> bool:
    """Whether the node's ``type`` is ``"string"`` and its ``const``/``enum`` allow only strings."""
    if node.get("type") != "string":
        return False
    if "const" in node:
        return isinstance(node["const"], str)
    return "enum" in node and all(isinstance(option, str) for option in node["enum"])


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # Draft 2020-12: an integer is any number with a zero fractional part, 1.0 included.
    return _is_number(value) and float(value).is_integer()


def _equal_any(value: Any, options: list[Any]) -> bool:
    return any(json_equal(value, option) for option in options)


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
