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
    """Write each document as ``<out_dir>/<system>.json``, all or none (`write_whole`); returns the
    paths written."""
    return write_whole(out_dir, {f"{system}.json": document_text(documents[system]) for system in sorted(documents)})


def write_whole(directory: Path, texts: dict[str, str]) -> list[Path]:
    """Write each file name -> text into `directory`, all or none: every text goes to a temporary
    file first and replaces its target only once all are written, and a target that is a folder is
    refused before anything is written. Raises `OSError` (`IsADirectoryError` for such a target)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in texts:
        if (directory / name).is_dir():
            raise IsADirectoryError(21, "Is a directory", str(directory / name))
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in texts.items():
            temporary = directory / f".{name}.writing"
            temporary.write_text(text, encoding="utf-8")
            staged.append((temporary, directory / name))
    except OSError:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        temporary.replace(target)
    return [target for _, target in staged]


def drift(directory: Path, texts: dict[str, str]) -> list[tuple[str, str]]:
    """Each file name -> text that `directory` does not hold byte for byte, with why: "missing" or
    "differs" (empty when all match). Bytes are compared, so a file that is not UTF-8 simply
    differs. Raises `OSError` when a file is there but cannot be read."""
    problems = []
    for name, text in texts.items():
        path = directory / name
        if not path.is_file():
            problems.append((name, "missing"))
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append((name, "differs"))
    return problems


def checked_in_dir() -> Path:
    """Where the documents live in a source checkout (``contracts/openapi``)."""
    return Path(__file__).resolve().parent / "openapi"
