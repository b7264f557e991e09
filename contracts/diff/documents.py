"""Comparing two OpenAPI 3.x documents operation by operation: paths, methods, parameters, request
bodies and responses. Schemas are compared by `SchemaDiffer` in the direction they travel."""

from __future__ import annotations

import re
from typing import Any

from rehearse.contracts.diff.changes import Change, change
from rehearse.contracts.diff.schemas import REQUEST, RESPONSE, SchemaDiffer

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEMPLATE = re.compile(r"\{[^}/]*\}")


def _path_key(path: str) -> str:
    """Paths that differ only in their parameters' names are the same endpoint."""
    return _TEMPLATE.sub("{}", path)


def _status_sort_key(status: str) -> tuple[int, str]:
    return (0 if status[:1].isdigit() else 1, status)


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference between two OpenAPI documents, breaking changes first, each group in
    document order (paths sorted, methods in HTTP order, statuses sorted)."""
    changes: list[Change] = []
    differ = _DocumentDiffer(old, new, changes.append)
    differ.run()
    return sorted(changes, key=lambda c: c.severity != "breaking")  # stable: keeps document order


class _DocumentDiffer:
    def __init__(self, old: dict, new: dict, emit) -> None:
        self.old = old
        self.new = new
        self.emit = emit
        self.schemas = SchemaDiffer(old, new, emit)

    def _resolve(self, document: dict, node: Any) -> dict:
        return self.schemas._resolve(document, node)[0]

    def run(self) -> None:
        old_paths = {_path_key(path): path for path in self.old.get("paths") or {}}
        new_paths = {_path_key(path): path for path in self.new.get("paths") or {}}
        for key in sorted(set(old_paths) | set(new_paths)):
            if key not in new_paths:
                path = old_paths[key]
                self.emit(change("path_removed", path, "", "", f"{path} removed"))
            elif key not in old_paths:
                path = new_paths[key]
                self.emit(change("path_added", path, "", "", f"{path} added"))
            else:
                self._path(old_paths[key], new_paths[key])

    def _path(self, old_path: str, new_path: str) -> None:
        old_item = self._resolve(self.old, self.old["paths"][old_path])
        new_item = self._resolve(self.new, self.new["paths"][new_path])
        for method in METHODS:
            operation = f"{method.upper()} {new_path}"
            if method in old_item and method not in new_item:
                self.emit(change("operation_removed", f"{method.upper()} {old_path}", "", "",
                                 f"{method.upper()} {old_path} removed"))
            elif method in new_item and method not in old_item:
                self.emit(change("operation_added", operation, "", "", "operation added"))
            elif method in old_item:
                self._parameters(old_item, new_item, operation, method)
                self._request_body(old_item[method], new_item[method], operation)
                self._responses(old_item[method], new_item[method], operation)

    # -- parameters ------------------------------------------------------------------------------

    def _parameters_of(self, document: dict, item: dict, method: str) -> dict[tuple[str, str], dict]:
        """An operation's parameters by (location, name), path-level ones overridden by its own.
        Path parameters are keyed by position, since their names may change freely."""
        parameters: dict[tuple[str, str], dict] = {}
        for source in (item.get("parameters") or [], item[method].get("parameters") or []):
            for parameter in source:
                parameter = self._resolve(document, parameter)
                parameters[(parameter.get("in", ""), parameter.get("name", ""))] = parameter
        return parameters

    def _parameters(self, old_item: dict, new_item: dict, operation: str, method: str) -> None:
        old_parameters = self._parameters_of(self.old, old_item, method)
        new_parameters = self._parameters_of(self.new, new_item, method)
        old_path_order = [key for key in old_parameters if key[0] == "path"]
        new_path_order = [key for key in new_parameters if key[0] == "path"]
        # path parameters by position (a count change is a new path)
        renamed = dict(zip(new_path_order, old_path_order))
        for key, parameter in new_parameters.items():
            old_key = renamed.get(key, key)
            where = f"parameter {key[0]} {key[1]}"
            old_parameter = old_parameters.get(old_key)
            required = bool(parameter.get("required"))
            if old_parameter is None:
                kind = "parameter_required_added" if required else "parameter_added"
                self.emit(change(kind, operation, where, "", "required parameter added" if required
                                 else "optional parameter added"))
                continue
            if required and not old_parameter.get("required"):
                self.emit(change("parameter_became_required", operation, where, "", "now required"))
            elif old_parameter.get("required") and not required:
                self.emit(change("parameter_became_optional", operation, where, "", "no longer required"))
            if "schema" in old_parameter and "schema" in parameter:
                self.schemas.compare(old_parameter["schema"], parameter["schema"], REQUEST, operation, where)
        matched = {renamed.get(key, key) for key in new_parameters}
        for key in old_parameters:
            if key not in matched:
                self.emit(change("parameter_removed", operation, f"parameter {key[0]} {key[1]}", "",
                                 "parameter removed"))

    # -- bodies ----------------------------------------------------------------------------------

    def _request_body(self, old_operation: dict, new_operation: dict, operation: str) -> None:
        old_body = self._resolve(self.old, old_operation.get("requestBody")) if "requestBody" in old_operation else None
        new_body = self._resolve(self.new, new_operation.get("requestBody")) if "requestBody" in new_operation else None
        if new_body is None:
            return  # a body no longer read: clients that send one are not refused for it
        if old_body is None:
            if new_body.get("required"):
                self.emit(change("request_body_became_required", operation, "request body", "",
                                 "a required request body was added"))
            else:
                self.emit(change("request_body_added", operation, "request body", "", "optional request body added"))
            return
        if new_body.get("required") and not old_body.get("required"):
            self.emit(change("request_body_became_required", operation, "request body", "", "now required"))
        self._content(old_body.get("content") or {}, new_body.get("content") or {}, REQUEST, operation,
                      "request body")

    def _content(self, old_content: dict, new_content: dict, direction: str, operation: str, where: str) -> None:
        for media_type in old_content:
            if media_type not in new_content:
                self.emit(change(f"{direction}_media_type_removed", operation, f"{where} {media_type}", "",
                                 f"{media_type} removed"))
            else:
                old_schema = (old_content[media_type] or {}).get("schema")
                new_schema = (new_content[media_type] or {}).get("schema")
                if old_schema is not None and new_schema is not None:
                    self.schemas.compare(old_schema, new_schema, direction, operation, f"{where} {media_type}")
        for media_type in new_content:
            if media_type not in old_content:
                self.emit(change(f"{direction}_media_type_added", operation, f"{where} {media_type}", "",
                                 f"{media_type} added"))

    def _responses(self, old_operation: dict, new_operation: dict, operation: str) -> None:
        old_responses = old_operation.get("responses") or {}
        new_responses = new_operation.get("responses") or {}
        for status in sorted(map(str, old_responses), key=_status_sort_key):
            where = f"response {status}"
            new_response = new_responses.get(status, new_responses.get(int(status)) if status.isdigit() else None)
            if new_response is None:
                self.emit(change("response_status_removed", operation, where, "", f"status {status} removed"))
                continue
            old_response = self._resolve(self.old, old_responses.get(status, old_responses.get(int(status))
                                                                       if status.isdigit() else None))
            new_response = self._resolve(self.new, new_response)
            self._content(old_response.get("content") or {}, new_response.get("content") or {}, RESPONSE,
                          operation, where)
        old_statuses = set(map(str, old_responses))
        for status in sorted(map(str, new_responses), key=_status_sort_key):
            if status not in old_statuses:
                self.emit(change("response_status_added", operation, f"response {status}", "",
                                 f"status {status} added"))
