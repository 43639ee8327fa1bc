"""Demo files and prices: Contacts' files of mixed sizes, products with prices."""

from __future__ import annotations

import base64
import random

from salesforce_emulator.org import Org
from salesforce_emulator.pricebooks import standard_pricebook_id

# From a few hundred bytes to a few megabytes: small files go as JSON, large ones
# as multipart.
FILE_SIZES = (300, 4_000, 60_000, 800_000, 3_000_000)
EXTENSIONS = ("pdf", "docx", "png", "csv", "txt")
PRODUCTS = (
    ("Widget", "W-100", 120.0),
    ("Gadget", "G-200", 480.0),
    ("Support plan", "S-300", 1_500.0),
    ("Installation", "I-400", 900.0),
    ("Training day", "T-500", 2_000.0),
)


def seed_files(org: Org, rng: random.Random, files: int) -> int:
    """Attach ``files`` files of mixed sizes to random Contacts; returns how many."""
    contacts = [c["Id"] for c in org.records("Contact")]
    if not contacts:
        return 0
    for number in range(files):
        size = FILE_SIZES[number % len(FILE_SIZES)]
        data = rng.randbytes(size)
        extension = EXTENSIONS[number % len(EXTENSIONS)]
        org.insert(
            "ContentVersion",
            {
                "PathOnClient": f"document-{number + 1}.{extension}",
                "VersionData": base64.b64encode(data).decode(),
                "FirstPublishLocationId": rng.choice(contacts),
            },
        )
    return files


def seed_prices(org: Org) -> int:
    """Products with a standard price and a partner price; returns the entries made."""
    standard = standard_pricebook_id(org)
    partners = org.insert("Pricebook2", {"Name": "Partners", "IsActive": True})
    entries = 0
    for name, code, price in PRODUCTS:
        product = org.insert(
            "Product2", {"Name": name, "ProductCode": code, "IsActive": True}
        )
        for book, unit_price in ((standard, price), (partners, round(price * 0.85, 2))):
            org.insert(
                "PricebookEntry",
                {
                    "Pricebook2Id": book,
                    "Product2Id": product,
                    "UnitPrice": unit_price,
                    "IsActive": True,
                },
            )
            entries += 1
    return entries
