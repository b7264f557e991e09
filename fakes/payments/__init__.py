"""Payment gateway fake."""

from rehearse.fakes.payments.gateway import PaymentSettings, PaymentsGateway

__all__ = ["PaymentSettings", "PaymentsGateway"]
