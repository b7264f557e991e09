"""The fakes' own OpenAPI documents (contracts/openapi/*.json): each diffed against itself finds
nothing, and a planted breaking change (a path removed) is caught. Skipped until they exist."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rehearse.contracts.diff import BREAKING, diff_documents, load_document

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "contracts" / "openapi"
DOCUMENTS = sorted(OPENAPI_DIR.glob("*.json")) if OPENAPI_DIR.is_dir() else []

pytestmark = pytest.mark.skipif(not DOCUMENTS, reason=f"no OpenAPI documents in {OPENAPI_DIR} yet")


@pytest.mark.parametrize("path", DOCUMENTS, ids=[path.stem for path in DOCUMENTS])
def test_fake_document_is_stable_and_a_removed_path_is_caught(path, tmp_path):
    document = load_document(path)
    assert diff_documents(document, copy.deepcopy(document)) == []
    removed = sorted(document.get("paths") or {})[0]
    planted = copy.deepcopy(document)
    del planted["paths"][removed]
    (tmp_path / path.name).write_text(json.dumps(planted))
    changes = diff_documents(document, load_document(tmp_path / path.name))
    assert [(c.kind, c.operation) for c in changes if c.severity == BREAKING] == [("path_removed", removed)]
