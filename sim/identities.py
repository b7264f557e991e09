"""Customer identities: realistic, deterministic, and cheap at a million customers.

Faker makes a few thousand identities a second, far too slow for a million customers, so each
locale gets seeded pools of names, streets and places drawn once from Faker; customer ``i`` takes
one item of each pool by hashing (seed, i). Every customer stays a pure function of the seed and
its index.
"""

from __future__ import annotations

from faker import Faker

from rehearse.sim.scenario import LOCALES
from rehearse.sim.seeds import derive_seed, mix64
from rehearse.sync.model import Address

POOL_SIZE = 400  # per locale and field: 400^2 name combinations before the address pools

# US states with a sales-tax entry in the tax fake; customers are spread over them.
US_STATES = ("CA", "NY", "TX", "WA", "FL", "IL", "PA", "MA", "OR", "DE")


class _Pool:
    __slots__ = ("first", "last", "company", "street", "places")

    def __init__(self, faker: Faker, country: str) -> None:
        self.first = [faker.first_name() for _ in range(POOL_SIZE)]
        self.last = [faker.last_name() for _ in range(POOL_SIZE)]
        self.company = [faker.company() for _ in range(POOL_SIZE)]
        self.street = [faker.street_address() for _ in range(POOL_SIZE)]
        if country == "US":
            self.places = []
            for index in range(POOL_SIZE):
                state = US_STATES[index % len(US_STATES)]
                self.places.append((faker.city(), state, faker.zipcode_in_state(state)))
        else:
            self.places = [(faker.city(), "", faker.postcode()) for _ in range(POOL_SIZE)]


class Identities:
    """Deterministic identities per country."""

    def __init__(self, root_seed: int, countries: list[str]) -> None:
        self.root_seed = root_seed
        self.pools: dict[str, _Pool] = {}
        for country in sorted(set(countries)):
            faker = Faker(LOCALES[country])
            faker.seed_instance(derive_seed(root_seed, f"identities/{country}"))
            self.pools[country] = _Pool(faker, country)
        self._salt = derive_seed(root_seed, "identities/index")

    def identity(self, index: int, country: str) -> tuple[str, str, Address]:
        """(company name, billing email, address) of customer `index` in `country`."""
        pool = self.pools[country]
        h = mix64(self._salt ^ index)
        first = pool.first[h % POOL_SIZE]
        last = pool.last[(h >> 9) % POOL_SIZE]
        company = pool.company[(h >> 18) % POOL_SIZE]
        city, region, postal_code = pool.places[(h >> 27) % POOL_SIZE]
        street = pool.street[(h >> 36) % POOL_SIZE]
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}.{index}@example.{country.lower()}"
        return company, email, Address(street, city, region, postal_code, country)
