"""`rehearse contracts diff`: breaking changes between two versions of an OpenAPI 3.x document.

A focused differ rather than a library: the maintained Python option (Yelp's
swagger-spec-compatibility) reads Swagger 2.0 only, oasdiff is a Go binary, and the other PyPI
packages are young single-author projects. The rules, and which direction makes a change breaking,
are listed in `changes.KINDS`.
"""

from rehearse.contracts.diff.changes import BREAKING, INFO, KINDS, Change
from rehearse.contracts.diff.documents import diff_documents
from rehearse.contracts.diff.load import DocumentError, load_document

__all__ = ["BREAKING", "INFO", "KINDS", "Change", "DocumentError", "diff_documents", "diff_files", "load_document"]


def diff_files(old_path, new_path) -> list[Change]:
    """Load, validate and diff two documents; raises `DocumentError` naming the bad file."""
    return diff_documents(load_document(old_path), load_document(new_path))
