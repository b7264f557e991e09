"""CRM state machines, after Salesforce opportunities and accounts."""

from __future__ import annotations

from rehearse.fakes.machine import StateMachine

OPPORTUNITY_STATES = ("open", "closed_won", "closed_lost")

OPPORTUNITY = StateMachine(
    "opportunity",
    {
        ("open", "win"): "closed_won",
        ("open", "lose"): "closed_lost",
        ("closed_won", "amend"): "closed_won",
    },
    OPPORTUNITY_STATES,
)

ACCOUNT_STATES = ("prospect", "customer", "churned")

ACCOUNT = StateMachine(
    "account",
    {
        ("prospect", "win_deal"): "customer",
        ("customer", "win_deal"): "customer",
        ("customer", "churn"): "churned",
        ("churned", "win_deal"): "customer",
    },
    ACCOUNT_STATES,
)
