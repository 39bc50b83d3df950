"""The shop: everything in a journeys folder, cross-checked, as one object.

``loader.load`` builds it; the pages (``klbuild``) and the backend (``klcheckout``)
read prices, steps and rules only through it, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import Problem
from .model import (
    Account,
    Brand,
    BusinessEntity,
    Discount,
    Form,
    Journey,
    PaymentMethod,
    PaymentMethodStep,
    Product,
    ProductSelection,
    Quotes,
    Site,
    Strict,
)


class ShopFile(Strict):
    site: Site
    business_entities: list[BusinessEntity]
    payment_methods: dict[str, PaymentMethod] = {}
    account: Account = Account()
    brand: Brand = Brand()
    quotes: Quotes = Quotes()


class CatalogFile(Strict):
    products: list[Product] = []
    product_selections: list[ProductSelection] = []
    discounts: list[Discount] = []


class FormsFile(Strict):
    forms: list[Form] = []


@dataclass
class Shop:
    """Everything in a journeys folder, cross-checked. Read by klbuild and klcheckout alike."""

    root: Path
    site: Site
    business_entities: dict[str, BusinessEntity]
    payment_methods: dict[str, PaymentMethod]
    products: dict[str, Product]
    product_selections: dict[str, ProductSelection]
    forms: dict[str, Form]
    #: By key, in file-name order.
    journeys: dict[str, Journey]
    discounts: dict[str, Discount] = field(default_factory=dict)
    #: The journeys of the account page, by what they do, as journey keys.
    account: dict[str, str] = field(default_factory=dict)
    brand: Brand = field(default_factory=Brand)
    #: ``[quotes]``: the discount each staff role may give on a quote.
    quotes: Quotes = field(default_factory=Quotes)
    #: The products' pictures: width and height in pixels, by file (``Product.image``).
    images: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    #: A digest of the shared files; a change there touches every journey.
    shared_digest: str = ""
    #: The shop in each of its languages (``[site] locales``), this one among them;
    #: empty for a shop of one language.
    languages: dict[str, Shop] = field(default_factory=dict, repr=False)

    def in_language(self, locale: str) -> Shop:
        """The shop whose pages are in ``locale``; this one for an unknown language."""
        return self.languages.get(locale, self)

    def entity(self, journey: Journey) -> BusinessEntity:
        return self.business_entities[journey.business_entity]

    def discount(self, journey: Journey) -> Discount | None:
        return self.discounts.get(journey.discount) if journey.discount else None

    def offered_methods(self, step: PaymentMethodStep) -> dict[str, PaymentMethod]:
        """The methods a payment step offers, in the shop's order."""
        wanted = step.methods if step.methods is not None else list(self.payment_methods)
        return {key: self.payment_methods[key] for key in self.payment_methods if key in wanted}
