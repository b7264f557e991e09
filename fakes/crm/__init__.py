"""CRM fake."""

from rehearse.fakes.crm.accounts import AccountRecord, Crm, OpportunityRecord

__all__ = ["AccountRecord", "Crm", "OpportunityRecord"]
