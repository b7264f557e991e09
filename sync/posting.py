"""One ERP post and what its outcome means, shared by the p2p, batch and event patterns.

`post_once` makes one call and classifies the outcome with `decisions.classify_erp_error`, so each
pattern only decides what to do next (retry now, later, park, reroute), which is where the
patterns differ.
"""

from __future__ import annotations

from typing import NamedTuple

from rehearse.sync import decisions
from rehearse.sync.errors import ErpConnectError, ErpError, ErpTimeout
from rehearse.sync.model import ErpDocument, next_period
from rehearse.sync.ports import ErpClient

POSTED = "posted"  # the ERP holds the document now (created, or it had it: DUP_RCRD with an external id)


class Attempt(NamedTuple):
    """One call's outcome: `POSTED` or a `decisions` constant, the ERP's code and Retry-After."""

    outcome: str
    internal_id: str = ""
    code: str = ""
    retry_after_s: float | None = None
    message: str = ""


async def post_once(erp: ErpClient, document: ErpDocument) -> Attempt:
    """Post a document once. A DUP_RCRD answer to a document with an external id means the ERP has
    it (an earlier attempt was applied): that is `POSTED`, as the external-id upsert promises."""
    try:
        internal_id = await erp.post(document)
    except ErpError as error:
        outcome = decisions.classify_erp_error(error.status, error.code)
        if outcome == decisions.DUPLICATE and document.external_id:
            return Attempt(POSTED, "", error.code)
        return Attempt(outcome, "", error.code, error.retry_after_s, error.message)
    except ErpTimeout:
        return Attempt(decisions.AMBIGUOUS, "", "TIMEOUT")
    except ErpConnectError:
        return Attempt(decisions.TRANSIENT, "", "CONNECT_ERROR")
    return Attempt(POSTED, internal_id)


def routed(document: ErpDocument) -> ErpDocument:
    """The document moved into the period after its posting period, its dates kept (DOMAIN 8.7)."""
    return document._replace(posting_period=next_period(document.posting_period))


def without_external_id(document: ErpDocument, internal_ids: dict[str, str]) -> ErpDocument:
    """A document as an engine without idempotent posting sends it: no external id, and its parent
    named by the internal id that engine's own post returned (when it knows it)."""
    return document._replace(external_id="", parent_id=internal_ids.get(document.parent_id, document.parent_id))
