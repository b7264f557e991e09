"""What the differ reports: one `Change` per difference, breaking or informational."""

from __future__ import annotations

from typing import NamedTuple

BREAKING = "breaking"
INFO = "info"

# kind -> (severity, what it means). Request fields travel from the client; response fields to it.
KINDS: dict[str, tuple[str, str]] = {
    "path_removed": (BREAKING, "a path and every operation under it are gone"),
    "operation_removed": (BREAKING, "an HTTP method of a path is gone"),
    "parameter_required_added": (BREAKING, "a new required parameter: old clients do not send it"),
    "parameter_became_required": (BREAKING, "an optional parameter became required"),
    "request_body_became_required": (BREAKING, "the request body became required"),
    "request_media_type_removed": (BREAKING, "a request content type is no longer accepted"),
    "request_property_required_added": (BREAKING, "a request field became required: old clients omit it"),
    "request_property_removed": (BREAKING, "a request field was removed and extra fields are refused"),
    "request_type_narrowed": (BREAKING, "a request field accepts fewer types (e.g. number -> integer)"),
    "request_enum_narrowed": (BREAKING, "a request field accepts fewer enum values"),
    "request_constraint_narrowed": (BREAKING, "a request field's bounds, length, pattern or format is stricter"),
    "request_variant_removed": (BREAKING, "a request oneOf/anyOf lost an alternative"),
    "response_status_removed": (BREAKING, "a documented response status is gone"),
    "response_media_type_removed": (BREAKING, "a response content type is no longer returned"),
    "response_property_removed": (BREAKING, "a response field is gone: clients reading it break"),
    "response_property_became_optional": (BREAKING, "a response field is no longer always present"),
    "response_type_widened": (BREAKING, "a response field may carry a type clients do not expect"),
    "response_variant_added": (BREAKING, "a response oneOf/anyOf gained an alternative clients do not expect"),
    "path_added": (INFO, "a new path"),
    "operation_added": (INFO, "a new operation"),
    "parameter_added": (INFO, "a new optional parameter"),
    "parameter_removed": (INFO, "a parameter is no longer documented (clients that send it are ignored)"),
    "parameter_became_optional": (INFO, "a required parameter became optional"),
    "request_property_added": (INFO, "a new optional request field"),
    "request_property_dropped": (INFO, "a request field is no longer documented (extra fields still allowed)"),
    "request_property_became_optional": (INFO, "a required request field became optional"),
    "request_type_widened": (INFO, "a request field accepts more types"),
    "request_enum_widened": (INFO, "a request field accepts more enum values"),
    "request_constraint_relaxed": (INFO, "a request field's bounds, length or pattern is looser"),
    "request_variant_added": (INFO, "a request oneOf/anyOf gained an alternative"),
    "request_body_added": (INFO, "an optional request body"),
    "request_media_type_added": (INFO, "a new accepted request content type"),
    "response_status_added": (INFO, "a new documented response status"),
    "response_media_type_added": (INFO, "a new response content type"),
    "response_property_added": (INFO, "a new response field"),
    "response_property_became_required": (INFO, "a response field is now always present"),
    "response_type_narrowed": (INFO, "a response field carries fewer types"),
    "response_enum_widened": (INFO, "a response field may carry new enum values (clients should tolerate them)"),
    "response_enum_narrowed": (INFO, "a response field carries fewer enum values"),
    "response_variant_removed": (INFO, "a response oneOf/anyOf lost an alternative"),
}


class Change(NamedTuple):
    """One difference between two documents.

    `operation` is "METHOD /path" (the new document's spelling when both exist), `where` the part
    of it ("request body application/json", "response 200 application/json", "parameter query
    limit", or "" for the operation itself), `field` a dotted path into the schema ("lines[].amount"),
    `detail` what changed in words.
    """

    severity: str
    kind: str
    operation: str
    where: str
    field: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The change as a JSON object."""
        return self._asdict()


def change(kind: str, operation: str, where: str, field: str, detail: str) -> Change:
    """A `Change` of a known kind; its severity comes from `KINDS`."""
    return Change(KINDS[kind][0], kind, operation, where, field, detail)
