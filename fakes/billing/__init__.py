"""Billing platform fake."""

from rehearse.fakes.billing.platform import Billing, BillingSettings, SubscriptionRecord, prorate_minor

__all__ = ["Billing", "BillingSettings", "SubscriptionRecord", "prorate_minor"]
