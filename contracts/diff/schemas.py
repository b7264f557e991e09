"""Comparing two JSON Schemas in one direction of travel.

A request schema describes what clients send: the new version must accept everything the old one
accepted, so narrowing it (fewer types, fewer enum values, tighter bounds, a new required field)
breaks clients. A response schema describes what clients receive: the new version must promise
everything the old one promised, so removing a field, making it optional or widening its type
breaks clients. Local ``$ref``s are followed (with a guard against recursive schemas), ``allOf`` is
merged, and a ``oneOf``/``anyOf`` with a ``null`` alternative (how OpenAPI 3.1 spells nullable) is
read as the other alternative plus null.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from rehearse.contracts.diff.changes import Change, change
from rehearse.contracts.diff.load import resolve_pointer

REQUEST = "request"
RESPONSE = "response"
ANY_TYPE = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})

# Bounds: a larger lower bound or a smaller upper bound accepts less.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf")
_ANNOTATIONS = {"title", "description", "example", "examples", "default", "deprecated", "readOnly",
                "writeOnly", "externalDocs", "xml"}


def _covered(types: frozenset[str], value_type: str) -> bool:
    return value_type in types or (value_type == "integer" and "number" in types)


def _field_name(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def _enum_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class SchemaDiffer:
    """Compares schemas of two documents; each difference is handed to `emit`."""

    def __init__(self, old_document: dict, new_document: dict, emit: Callable[[Change], None]) -> None:
        self.old_document = old_document
        self.new_document = new_document
        self.emit = emit
        self._comparing: set[tuple[str, str, str, str]] = set()  # ref pairs on the current path

    # -- normalisation ---------------------------------------------------------------------------

    def _resolve(self, document: dict, schema: Any) -> tuple[dict, str]:
        """The schema behind any chain of $refs, and the last ref followed ("" when none)."""
        ref = ""
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 64:
            ref = schema["$ref"]
            schema = resolve_pointer(document, ref)
            seen += 1
        return (schema if isinstance(schema, dict) else {}), ref

    def _normalize(self, document: dict, schema: Any) -> tuple[dict, str]:
        schema, ref = self._resolve(document, schema)
        if "allOf" in schema:
            schema = self._merge_all_of(document, schema)
        for key in ("anyOf", "oneOf"):
            variants = schema.get(key)
            if isinstance(variants, list):
                resolved = [self._resolve(document, variant)[0] for variant in variants]
                non_null = [(variant, r) for variant, r in zip(variants, resolved) if r.get("type") != "null"]
                if len(non_null) < len(variants) and len(non_null) == 1:
                    inner, inner_ref = self._normalize(document, non_null[0][0])
                    merged = {**{k: v for k, v in schema.items() if k != key}, **inner}
                    merged["type"] = sorted(self._types(inner) | {"null"}) if self._types(inner) else None
                    if merged["type"] is None:
                        del merged["type"]
                    return merged, inner_ref or ref
        return schema, ref

    def _merge_all_of(self, document: dict, schema: dict) -> dict:
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        properties = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part, _ = self._normalize(document, part)
            for name, value in part.get("properties", {}).items():
                properties[name] = {"allOf": [properties[name], value]} if name in properties else value
            required.extend(name for name in part.get("required", []) if name not in required)
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    @staticmethod
    def _plain_union(schema: dict) -> bool:
        """A oneOf/anyOf of bare types (``anyOf: [{type: string}, {type: integer}]``): a type union."""
        variants = schema.get("anyOf") or schema.get("oneOf")
        return "type" not in schema and isinstance(variants, list) and bool(variants) and all(
            isinstance(v, dict) and "type" in v and set(v) <= {"type"} | _ANNOTATIONS for v in variants)

    @classmethod
    def _types(cls, schema: dict) -> frozenset[str]:
        declared = schema.get("type")
        if declared is None:
            if cls._plain_union(schema):
                variants = cast(list, schema.get("anyOf") or schema.get("oneOf"))  # a list: `_plain_union`
                types = set()
                for variant in variants:
                    types |= {variant["type"]} if isinstance(variant["type"], str) else set(variant["type"])
                return frozenset(types)
            return frozenset()  # unconstrained
        types = {declared} if isinstance(declared, str) else set(declared)
        if schema.get("nullable") is True:
            types.add("null")
        return frozenset(types)

    # -- comparison ------------------------------------------------------------------------------

    def compare(self, old: Any, new: Any, direction: str, operation: str, where: str, field: str = "") -> None:
        """Report every difference between `old` and `new`, read in `direction`."""
        old, old_ref = self._normalize(self.old_document, old)
        new, new_ref = self._normalize(self.new_document, new)
        guard = (old_ref, new_ref, direction, where)
        if old_ref and new_ref:
            if guard in self._comparing:
                return  # a recursive schema: this pair is already being compared further up
            self._comparing.add(guard)
        try:
            self._compare_types(old, new, direction, operation, where, field)
            self._compare_enums(old, new, direction, operation, where, field)
            if direction == REQUEST:
                self._compare_constraints(old, new, operation, where, field)
            self._compare_properties(old, new, direction, operation, where, field)
            if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
                self.compare(old["items"], new["items"], direction, operation, where, f"{field}[]")
            old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
            if isinstance(old_extra, dict) and isinstance(new_extra, dict):
                self.compare(old_extra, new_extra, direction, operation, where, f"{field}{{}}")
            self._compare_variants(old, new, direction, operation, where, field)
        finally:
            self._comparing.discard(guard)

    def _report(self, kind: str, operation: str, where: str, field: str, detail: str) -> None:
        self.emit(change(kind, operation, where, field, detail))

    def _compare_types(self, old: dict, new: dict, direction: str, operation: str, where: str, field: str) -> None:
        old_types = self._types(old) or ANY_TYPE
        new_types = self._types(new) or ANY_TYPE
        if old_types == new_types:
            return
        shown = f"{'|'.join(sorted(old_types)) if old_types != ANY_TYPE else 'any'} -> " \
                f"{'|'.join(sorted(new_types)) if new_types != ANY_TYPE else 'any'}"
        if direction == REQUEST:
            lost = [t for t in sorted(old_types) if not _covered(new_types, t)]
            kind = "request_type_narrowed" if lost else "request_type_widened"
        else:
            gained = [t for t in sorted(new_types) if not _covered(old_types, t)]
            kind = "response_type_widened" if gained else "response_type_narrowed"
        self._report(kind, operation, where, field, f"type {shown}")

    def _compare_enums(self, old: dict, new: dict, direction: str, operation: str, where: str, field: str) -> None:
        old_enum, new_enum = old.get("enum"), new.get("enum")
        if old_enum is None and new_enum is None:
            return
        if old_enum is not None and new_enum is not None:
            old_keys = {_enum_key(v): v for v in old_enum}
            new_keys = {_enum_key(v): v for v in new_enum}
            removed = [old_keys[k] for k in old_keys if k not in new_keys]
            added = [new_keys[k] for k in new_keys if k not in old_keys]
            if removed:
                self._report(f"{direction}_enum_narrowed", operation, where, field, f"enum values removed: {removed}")
            if added:
                self._report(f"{direction}_enum_widened", operation, where, field, f"enum values added: {added}")
        elif new_enum is not None:
            self._report(f"{direction}_enum_narrowed", operation, where, field, f"now limited to {new_enum}")
        else:
            self._report(f"{direction}_enum_widened", operation, where, field, f"no longer limited to {old_enum}")

    def _compare_constraints(self, old: dict, new: dict, operation: str, where: str, field: str) -> None:
        for key in _LOWER_BOUNDS + _UPPER_BOUNDS:
            before, after = old.get(key), new.get(key)
            if before == after or isinstance(before, bool) or isinstance(after, bool):
                continue  # equal, or OpenAPI 3.0's boolean exclusiveMinimum flags
            lower = key in _LOWER_BOUNDS
            if after is None:
                tighter = False
            elif before is None:
                tighter = True
            else:
                tighter = after > before if lower else after < before
            kind = "request_constraint_narrowed" if tighter else "request_constraint_relaxed"
            self._report(kind, operation, where, field, f"{key} {before} -> {after}")
        for key in _EXACT:
            before, after = old.get(key), new.get(key)
            if before != after:
                kind = "request_constraint_relaxed" if after is None else "request_constraint_narrowed"
                self._report(kind, operation, where, field, f"{key} {before!r} -> {after!r}")
        if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
            self._report("request_constraint_narrowed", operation, where, field, "extra fields are now refused")

    def _compare_properties(self, old: dict, new: dict, direction: str, operation: str, where: str,
                            field: str) -> None:
        old_properties = old.get("properties") or {}
        new_properties = new.get("properties") or {}
        old_required = set(old.get("required") or ())
        new_required = set(new.get("required") or ())
        closed = new.get("additionalProperties") is False or new.get("unevaluatedProperties") is False
        for name in old_properties:
            path = _field_name(field, name)
            if name not in new_properties:
                if direction == RESPONSE:
                    self._report("response_property_removed", operation, where, path, "field removed")
                else:
                    self._report("request_property_removed" if closed else "request_property_dropped",
                                 operation, where, path, "field removed")
                continue
            self.compare(old_properties[name], new_properties[name], direction, operation, where, path)
        for name in new_properties:
            if name not in old_properties:
                required = name in new_required
                if direction == REQUEST and required:
                    continue  # reported below as a new required input
                self._report(f"{direction}_property_added", operation, where, _field_name(field, name),
                             "required field added" if required else "optional field added")
        for name in sorted(new_required - old_required):
            path = _field_name(field, name)
            if direction == REQUEST:
                new_field = name not in old_properties
                self._report("request_property_required_added", operation, where, path,
                             "new required field" if new_field else "field became required")
            elif name in old_properties:
                self._report("response_property_became_required", operation, where, path, "now always present")
        for name in sorted(old_required - new_required):
            path = _field_name(field, name)
            if direction == RESPONSE and name in new_properties:
                self._report("response_property_became_optional", operation, where, path, "no longer required")
            elif direction == REQUEST and name in new_properties:
                self._report("request_property_became_optional", operation, where, path, "no longer required")

    def _compare_variants(self, old: dict, new: dict, direction: str, operation: str, where: str,
                          field: str) -> None:
        for key in ("oneOf", "anyOf"):
            old_variants, new_variants = old.get(key), new.get(key)
            if not isinstance(old_variants, list) and not isinstance(new_variants, list):
                continue
            if self._plain_union(old) and self._plain_union(new):
                continue  # unions of bare types were compared as types
            old_keyed = self._keyed(old_variants or [])
            new_keyed = self._keyed(new_variants or [])
            for name, variant in old_keyed.items():
                if name in new_keyed:
                    self.compare(variant, new_keyed[name], direction, operation, where, f"{field}<{name}>")
                else:
                    self._report(f"{direction}_variant_removed", operation, where, field,
                                 f"{key} alternative {name} removed")
            for name in new_keyed:
                if name not in old_keyed:
                    self._report(f"{direction}_variant_added", operation, where, field,
                                 f"{key} alternative {name} added")

    @staticmethod
    def _keyed(variants: list) -> dict[str, Any]:
        """Alternatives by their $ref's name when they have one, else by position."""
        keyed = {}
        for index, variant in enumerate(variants):
            ref = variant.get("$ref") if isinstance(variant, dict) else None
            keyed[ref.rsplit("/", 1)[-1] if isinstance(ref, str) else f"#{index}"] = variant
        return keyed
