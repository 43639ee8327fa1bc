"""Products and prices: which records of the price objects a run reads, and in what
order. Pure.

The standard price book is never inserted: every org has exactly one, so the source's
maps to the target's (services/pricebooks.py). Standard prices go before the entries
of custom price books, because Salesforce refuses a custom price for a product with no
standard price (STANDARD_PRICE_NOT_DEFINED).
"""

from __future__ import annotations

PRICEBOOK_OBJECT = "Pricebook2"
ENTRY_OBJECT = "PricebookEntry"


def base_condition(sobject: str) -> str:
    """A condition every read of ``sobject`` carries."""
    if sobject == PRICEBOOK_OBJECT:
        return "IsStandard = false"
    return ""


def passes(sobject: str) -> tuple[str, ...]:
    """Conditions read one after the other, in this order."""
    if sobject == ENTRY_OBJECT:
        return ("Pricebook2.IsStandard = true", "Pricebook2.IsStandard = false")
    return ()


def uses_price_books(sobjects: set[str], references: set[str]) -> bool:
    """Whether a run touches price books, so the standard one must be mapped first."""
    return PRICEBOOK_OBJECT in sobjects or PRICEBOOK_OBJECT in references
