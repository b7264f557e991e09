"""Reading an OpenAPI document for the differ: JSON or YAML, validated, local references only.

Every failure raises `DocumentError` naming the file and the reason, so the command line can exit 2
with one clear line instead of a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from rehearse.sim.files import file_problem

# Deeper than any OpenAPI document nests (paths, operation, responses, content, schema, then a few
# levels of properties): refused rather than left to the parser, the validator or the differ,
# each recursive (5,000 levels raised RecursionError).
DEPTH_MAX = 100


class _AliasRefused(yaml.composer.ComposerError):
    """An alias in a document read by `_NoAliasLoader`."""


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: an OpenAPI document has no use for them (it has ``$ref``), and a few
    nested aliases expand to billions of nodes ("billion laughs": the differ hung)."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasRefused(None, None, f"alias *{event.anchor}: YAML aliases are not supported "
                                                          "in an OpenAPI document (use $ref)", event.start_mark)
        return super().compose_node(parent, index)


class DocumentError(Exception):
    """A document that cannot be diffed: missing, unreadable, unparsable or not OpenAPI 3."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def load_document(path: str | Path) -> dict[str, Any]:
    """The OpenAPI 3.x document at `path` (JSON, or YAML by extension or when it is not JSON),
    validated against the OpenAPI specification. Raises `DocumentError`."""
    if (problem := file_problem(path)) is not None:  # a FIFO blocked until something wrote to it
        raise DocumentError(path, problem)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DocumentError(path, f"cannot read: {error}") from None
    document = _parse(path, text)
    if _depth_exceeds(document, DEPTH_MAX):
        raise DocumentError(path, f"nested more than {DEPTH_MAX} levels deep, deeper than an OpenAPI document needs")
    if not isinstance(document, dict):
        raise DocumentError(path, f"not an OpenAPI document (the top level is a {type(document).__name__}, "
                                  "not a mapping)")
    if "swagger" in document and "openapi" not in document:
        raise DocumentError(path, f"Swagger {document['swagger']} is not supported; only OpenAPI 3.x documents")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        raise DocumentError(path, "not an OpenAPI document (no 'openapi: 3.x' version key)"
                            if version is None else f"OpenAPI version {version!r} is not supported (3.x only)")
    _check_references(path, document)
    _validate(path, document)
    return document


def _parse(path: Path, text: str) -> Any:
    too_deep = f"nested more than {DEPTH_MAX} levels deep, deeper than an OpenAPI document needs"
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise DocumentError(path, f"not valid JSON: {error}") from None
        except RecursionError:
            raise DocumentError(path, too_deep) from None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader, without aliases
    except RecursionError:
        raise DocumentError(path, too_deep) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        kind = "" if isinstance(error, _AliasRefused) else "neither JSON nor YAML: "
        raise DocumentError(path, f"{kind}{problem}{where}") from None


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Whether any node of `document` lies more than `limit` containers deep (iterative)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _check_references(path: Path, document: dict[str, Any]) -> None:
    """Only references inside the document ("#/components/...") are followed; each must exist."""
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#/"):
                    raise DocumentError(path, f"$ref {ref!r}: only local references (#/...) are supported")
                if resolve_pointer(document, ref) is None:
                    raise DocumentError(path, f"$ref {ref!r} points to nothing in the document")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    """The node a local reference "#/a/b" points to, or None."""
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _validate(path: Path, document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate  # imported here: it is slow to import

    try:
        validate(document)
    except Exception as error:  # the validator raises jsonschema's and referencing's trees as well as its own
        where = " > ".join(str(part) for part in getattr(error, "absolute_path", ()) or ())
        # jsonschema's messages are one line; with the jsonschema-rs backend (installed alongside
        # Schemathesis) the text goes on with the failing schema and instance: keep its first line.
        message = (getattr(error, "message", None) or str(error)).strip()
        message = message.splitlines()[0] if message else type(error).__name__
        raise DocumentError(path, f"not a valid OpenAPI document: {f'{where}: ' if where else ''}{message}") from None
