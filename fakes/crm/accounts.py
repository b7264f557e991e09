"""The CRM fake, after Salesforce: accounts (each in one legal entity) and opportunities that are
won, amended and churned. The world turns a won deal into a billing subscription."""

from __future__ import annotations

from rehearse.fakes.crm.states import ACCOUNT, OPPORTUNITY


class AccountRecord:
    """A CRM account."""

    __slots__ = ("id", "name", "entity", "status")

    def __init__(self, account_id: str, name: str, entity: str) -> None:
        self.id = account_id
        self.name = name
        self.entity = entity
        self.status = "prospect"


class OpportunityRecord:
    """A CRM opportunity for one plan."""

    __slots__ = ("id", "account_id", "price_id", "stage", "amendments")

    def __init__(self, opportunity_id: str, account_id: str, price_id: str) -> None:
        self.id = opportunity_id
        self.account_id = account_id
        self.price_id = price_id
        self.stage = "open"
        self.amendments = 0


class Crm:
    """Accounts and opportunities; every change is traced."""

    def __init__(self, *, trace) -> None:
        self.trace = trace
        self.accounts: dict[str, AccountRecord] = {}
        self.opportunities: dict[str, OpportunityRecord] = {}

    def ensure_account(self, account_id: str, name: str, entity: str, status: str = "prospect") -> AccountRecord:
        """The account with this id, created if it does not exist yet (`status` for an existing book)."""
        account = self.accounts.get(account_id)
        if account is None:
            account = AccountRecord(account_id, name, entity)
            account.status = status
            self.accounts[account_id] = account
        return account

    def win_deal(self, account_id: str, price_id: str, now_s: float) -> OpportunityRecord:
        """Open and win an opportunity for a plan: the account becomes a customer."""
        account = self.accounts[account_id]
        opportunity = OpportunityRecord(f"opp_{len(self.opportunities) + 1}", account_id, price_id)
        opportunity.stage = OPPORTUNITY.next(opportunity.stage, "win")
        self.opportunities[opportunity.id] = opportunity
        account.status = ACCOUNT.next(account.status, "win_deal")
        self.trace.emit(now_s, "crm.deal_won", object_id=opportunity.id, ref_id=account_id,
                        entity=account.entity, code=price_id)
        return opportunity

    def import_won_deal(self, account_id: str, price_id: str) -> OpportunityRecord:
        """Record a deal won before the run (the existing book): no trace, no events."""
        opportunity = OpportunityRecord(f"opp_{len(self.opportunities) + 1}", account_id, price_id)
        opportunity.stage = "closed_won"
        self.opportunities[opportunity.id] = opportunity
        return opportunity

    def amend(self, opportunity_id: str, price_id: str, now_s: float) -> OpportunityRecord:
        """Amend a won deal to another plan (an upgrade or a downgrade)."""
        opportunity = self.opportunities[opportunity_id]
        opportunity.stage = OPPORTUNITY.next(opportunity.stage, "amend")
        opportunity.price_id = price_id
        opportunity.amendments += 1
        self.trace.emit(now_s, "crm.deal_amended", object_id=opportunity_id, ref_id=opportunity.account_id,
                        code=price_id)
        return opportunity

    def churn(self, account_id: str, now_s: float) -> None:
        """The account churns: its subscriptions end at period end."""
        account = self.accounts[account_id]
        account.status = ACCOUNT.next(account.status, "churn")
        self.trace.emit(now_s, "crm.account_churned", object_id=account_id, entity=account.entity)
