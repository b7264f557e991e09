"""The checked-in OpenAPI documents of the fakes (``contracts/openapi/<system>.json``).

They are generated from the fakes' apps (``rehearse contracts export``) and checked in, so a
change to an app shows up as a diff of its document in review; a test fails when code and
documents drift apart.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

SYSTEMS = ("crm", "billing", "payments", "tax", "erp")


def document_text(document: dict) -> str:
    """The canonical text of a document: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_document(system: str) -> dict:
    """The checked-in document of `system`; raises KeyError for an unknown system."""
    if system not in SYSTEMS:
        raise KeyError(f"unknown system {system!r} (one of {', '.join(SYSTEMS)})")
    return json.loads(resources.files("rehearse.contracts").joinpath("openapi", f"{system}.json").read_text())


def write_documents(documents: dict[str, dict], out_dir: Path) -> list[Path]:
    """Write each document as ``<out_dir>/<system>.json``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for system in sorted(documents):
        path = out_dir / f"{system}.json"
        path.write_text(document_text(documents[system]))
        written.append(path)
    return written


def checked_in_dir() -> Path:
    """Where the documents live in a source checkout (``contracts/openapi``)."""
    return Path(__file__).resolve().parent / "openapi"
