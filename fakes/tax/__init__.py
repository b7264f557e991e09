"""Tax engine fake."""

from rehearse.fakes.tax.engine import DEFAULT_RATES_BPS, TaxAddressError, TaxEngine

__all__ = ["DEFAULT_RATES_BPS", "TaxAddressError", "TaxEngine"]
