"""Payment gateway fake."""

from rehearse.fakes.payments.gateway import (
    ChargeOutcomeUnknown, NoPaymentFaults, PaymentFaults, PaymentSettings, PaymentsGateway, UnknownOutcome,
)

__all__ = ["ChargeOutcomeUnknown", "NoPaymentFaults", "PaymentFaults", "PaymentSettings", "PaymentsGateway",
           "UnknownOutcome"]
