"""Consumer-side contract checks: is a request the engine is about to send one the provider's
document allows? `RequestValidator` checks the method and path against the document's operations,
path and query parameters against their schemas, and a JSON body against the request body schema
(JSON Schema 2020-12, as OpenAPI 3.1 uses), and raises `ContractViolation` naming what is wrong.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from rehearse.sync.errors import RehearseError


class ContractViolation(RehearseError):
    """A request the provider's document does not allow."""

    def __init__(self, system: str, request: str, reasons: list[str]) -> None:
        super().__init__(system, request, reasons)
        self.system = system
        self.request = request
        self.reasons = reasons

    def __str__(self) -> str:
        return f"{self.system}: {self.request} breaks the contract: " + "; ".join(self.reasons)


class _Operation:
    __slots__ = ("template", "pattern", "parameters", "body")

    def __init__(self, template: str, operation: dict, components: dict) -> None:
        self.template = template
        self.pattern = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")
        self.parameters = {
            (param["in"], param["name"]): (param.get("required", False),
                                           _validator(param.get("schema", {}), components))
            for param in operation.get("parameters", [])
        }
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        self.body = _validator(content["schema"], components) if content else None


def _validator(schema: dict, components: dict) -> Draft202012Validator:
    # Local refs ("#/components/schemas/X") resolve against the root, so the root carries them.
    return Draft202012Validator({**schema, "components": components})


def _errors(validator: Draft202012Validator, value: Any, where: str) -> list[str]:
    return [f"{where}{'.' + '.'.join(str(p) for p in error.absolute_path) if error.absolute_path else ''}: "
            f"{error.message}" for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))]


class RequestValidator:
    """Validates requests to one system against its OpenAPI document."""

    def __init__(self, system: str, document: dict) -> None:
        self.system = system
        components = document.get("components", {})
        self._operations: dict[str, list[_Operation]] = {}
        for template, path_item in document.get("paths", {}).items():
            for method, operation in path_item.items():
                self._operations.setdefault(method.upper(), []).append(_Operation(template, operation, components))
        self.checked = 0

    def validate(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None) -> None:
        """Raise `ContractViolation` unless the document allows this request."""
        self.checked += 1
        request = f"{method} {path}"
        for operation in self._operations.get(method.upper(), ()):
            match = operation.pattern.match(path)
            if match is not None:
                break
        else:
            raise ContractViolation(self.system, request, ["no such operation in the document"])
        reasons: list[str] = []
        values = {("path", name): value for name, value in match.groupdict().items()}
        values.update({("query", name): value for name, value in (query or {}).items()})
        for key in sorted(set(values) - set(operation.parameters)):
            reasons.append(f"{key[0]} parameter {key[1]!r} is not in the document")
        for key, (required, validator) in operation.parameters.items():
            if key not in values:
                if required:
                    reasons.append(f"{key[0]} parameter {key[1]!r} is required")
                continue
            reasons += _errors(validator, values[key], f"{key[0]} parameter {key[1]}")
        if operation.body is not None:
            if body is None:
                reasons.append("the request body is required")
            else:
                reasons += _errors(operation.body, body, "body")
        elif body is not None:
            reasons.append("this operation takes no body")
        if reasons:
            raise ContractViolation(self.system, request, reasons)


class ConsumerContracts:
    """One `RequestValidator` per provider; `check` validates a request to any of them."""

    def __init__(self, documents: dict[str, dict]) -> None:
        self.validators = {system: RequestValidator(system, document) for system, document in documents.items()}

    def check(self, system: str, method: str, path: str, query: dict[str, Any] | None = None,
              body: Any = None) -> None:
        """Raise `ContractViolation` unless `system`'s document allows the request."""
        self.validators[system].validate(method, path, query=query, body=body)

    @property
    def checked(self) -> int:
        """How many requests were validated."""
        return sum(validator.checked for validator in self.validators.values())
