"""The tax engine fake, after Stripe Tax and Avalara: exclusive sales tax and VAT by jurisdiction.

Rates are basis points (1/100 of a percent) so that tax stays integer arithmetic. A US address
needs a five-digit ZIP; anything less is Avalara's error 176 ("not enough address information"),
never a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from rehearse.sync.model import Address

# Default rates: (country, region) -> basis points; region "" covers a whole country.
DEFAULT_RATES_BPS: dict[tuple[str, str], int] = {
    ("US", "CA"): 725, ("US", "NY"): 400, ("US", "TX"): 625, ("US", "WA"): 650, ("US", "FL"): 600,
    ("US", "IL"): 625, ("US", "PA"): 600, ("US", "MA"): 625, ("US", "OR"): 0, ("US", "DE"): 0,
    ("US", ""): 500,
    ("DE", ""): 1900, ("FR", ""): 2000, ("NL", ""): 2100, ("IE", ""): 2300, ("ES", ""): 2100,
    ("IT", ""): 2200, ("GB", ""): 2000,
}


class TaxAddressError(Exception):
    """The address cannot be located precisely enough to compute tax (Avalara code 176)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class TaxEngine:
    """Computes exclusive tax on amounts in minor units for an address."""

    def __init__(self, rates_bps: Mapping[tuple[str, str], int] = DEFAULT_RATES_BPS) -> None:
        self.rates_bps = dict(rates_bps)

    def rate_bps(self, address: Address) -> int:
        """The rate for an address in basis points; raises `TaxAddressError` when imprecise."""
        if not address.postal_code:
            raise TaxAddressError(176, "not enough address information: no postal code")
        if address.country == "US" and not (len(address.postal_code) >= 5 and address.postal_code[:5].isdigit()):
            raise TaxAddressError(176, f"not enough address information: ZIP {address.postal_code!r}")
        rate = self.rates_bps.get((address.country, address.region))
        if rate is None:
            rate = self.rates_bps.get((address.country, ""))
        if rate is None:
            raise TaxAddressError(176, f"no jurisdiction for country {address.country!r}")
        return rate

    @staticmethod
    def tax_minor(amount_minor: int, rate_bps: int) -> int:
        """Exclusive tax on an amount, rounded half away from zero to the minor unit."""
        magnitude = (abs(amount_minor) * rate_bps + 5000) // 10000
        return magnitude if amount_minor >= 0 else -magnitude
