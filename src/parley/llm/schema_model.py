"""A caller's JSON Schema as a pydantic model, for answers that must match it (Honcho 3's
`response_format` of the chat).

A conservative subset, as Honcho 3.0.12 takes: the root is an object; types string, number,
integer, boolean, null (or a list of them), objects with `properties` and `required`, arrays
with `items`, `enum` of strings, numbers, booleans and null, `anyOf` / `oneOf`, `description`
and `default`; `$ref` into the root's `$defs` / `definitions` is inlined (a recursive one is
refused). Anything else (`allOf`, `not`, `if`/`then`/`else`, `patternProperties`, a schema as
`additionalProperties`, an unknown type) is a ValueError naming where it is. Constraint
keywords (`minItems`, `maxLength`, ...) are left to the model: not enforced. Keys the answer has
beyond the schema's are dropped.
"""

from __future__ import annotations

import functools
import keyword
import operator
import re
import types
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

MAX_DEPTH = 20
MAX_NODES = 500
UNSUPPORTED = ("allOf", "not", "if", "then", "else", "patternProperties")
PRIMITIVES: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "null": type(None),
}
REF_PREFIXES = ("#/$defs/", "#/definitions/")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def model_from_schema(schema: Any, name: str = "ResponseFormat") -> type[BaseModel]:
    if not isinstance(schema, dict):
        raise ValueError("response_format must be a JSON Schema object")
    root = {k: v for k, v in schema.items() if k != "$schema"}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = root.pop(key, {})
        if not isinstance(found, dict):
            raise ValueError(f"{key} must be an object")
        defs |= found
    is_object = root.get("type") == "object" or ("type" not in root and "properties" in root)
    if not is_object and "$ref" not in root:
        raise ValueError("root schema must have type 'object'")
    model = _Walk(defs).convert(root, "", name, 0)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError("root schema must have type 'object'")
    return model


class _Walk:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.nodes = 0
        self.refs: list[str] = []
        self.names: set[str] = set()

    def convert(self, node: Any, path: str, name: str, depth: int) -> Any:
        where = path or "root"
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValueError(f"the schema has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise ValueError(f"the schema nests deeper than {MAX_DEPTH} levels at {where}")
        if not isinstance(node, dict):
            raise ValueError(f"{where}: a schema must be an object")
        if "$ref" in node:
            return self._ref(node, path, depth)
        for key in (*UNSUPPORTED, "$defs", "definitions"):
            if key in node:
                raise ValueError(f"{where}: '{key}' is not supported")
        extra = node.get("additionalProperties")
        if extra is not None and not isinstance(extra, bool):
            raise ValueError(f"{where}: only a boolean additionalProperties is supported")
        if "enum" in node:
            values = node["enum"]
            if not isinstance(values, list) or not values:
                raise ValueError(f"{where}: enum must be a non-empty list")
            if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
                raise ValueError(
                    f"{where}: enum values must be strings, integers, booleans or null"
                )
            return Literal[tuple(values)]
        for key in ("anyOf", "oneOf"):
            if key in node:
                members = node[key]
                if not isinstance(members, list) or not members:
                    raise ValueError(f"{where}: {key} must be a non-empty list")
                return _union(
                    [
                        self.convert(m, f"{where}.{key}[{i}]", f"{name}{i}", depth + 1)
                        for i, m in enumerate(members)
                    ]
                )
        kind = node.get("type")
        if isinstance(kind, list):
            if not kind:
                raise ValueError(f"{where}: type must not be an empty list")
            return _union([self.convert(node | {"type": k}, path, name, depth) for k in kind])
        if kind == "object" or (kind is None and "properties" in node):
            return self._model(node, path, name, depth)
        if kind == "array":
            items = node.get("items")
            if items is None:
                return list[Any]
            item = self.convert(items, f"{where}[]", f"{name}Item", depth + 1)
            return types.GenericAlias(list, (item,))  # list[item], for a type built here
        if kind is None:
            return Any
        if not isinstance(kind, str) or kind not in PRIMITIVES:
            raise ValueError(f"{where}: unknown type {kind!r}")
        return PRIMITIVES[kind]

    def _ref(self, node: dict[str, Any], path: str, depth: int) -> Any:
        ref = node["$ref"]
        prefix = next((p for p in REF_PREFIXES if isinstance(ref, str) and ref.startswith(p)), "")
        if not prefix:
            raise ValueError(f"{path or 'root'}: $ref must point into $defs or definitions")
        target = ref[len(prefix) :]
        if target not in self.defs:
            raise ValueError(f"{path or 'root'}: $ref {ref} names no definition")
        if target in self.refs:
            raise ValueError(f"recursive $ref: {' -> '.join([*self.refs, target])}")
        self.refs.append(target)
        try:
            merged = self.defs[target] | {k: v for k, v in node.items() if k != "$ref"}
            return self.convert(merged, path, target, depth)
        finally:
            self.refs.pop()

    def _model(self, node: dict[str, Any], path: str, name: str, depth: int) -> type[BaseModel]:
        where = path or "root"
        properties = node.get("properties", {})
        required = node.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise ValueError(f"{where}: properties must be an object and required a list")
        fields: dict[str, Any] = {}
        for index, (key, sub) in enumerate(properties.items()):
            annotation = self.convert(sub, f"{path}.{key}" if path else key, name, depth + 1)
            usable = _IDENTIFIER.match(key) and not keyword.iskeyword(key)
            field_name = key if usable and not key.startswith("model_") else f"field_{index}"
            description = sub.get("description") if isinstance(sub, dict) else None
            if key in required:
                info = Field(alias=key, description=description)
            else:
                default = sub.get("default") if isinstance(sub, dict) else None
                annotation = annotation | None
                info = Field(default=default, alias=key, description=description)
            fields[field_name] = (annotation, info)
        model_name = name if _IDENTIFIER.match(name) else "Object"
        while model_name in self.names:
            model_name += "_"
        self.names.add(model_name)
        config = ConfigDict(extra="ignore", populate_by_name=True)
        return create_model(model_name, __config__=config, **fields)


def _union(members: list[Any]) -> Any:
    return functools.reduce(operator.or_, members)
