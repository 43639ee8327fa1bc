"""Products and prices: Product2, Pricebook2, PricebookEntry, OpportunityLineItem.

- Every org has one standard price book (``IsStandard``, read-only), with its own id;
  it cannot be created through the API nor deleted.
- A product needs an entry in the standard price book before any custom price book
  can price it (STANDARD_PRICE_NOT_DEFINED); a product has one entry per price book
  (DUPLICATE_VALUE).
- An opportunity line item takes its product and list price from its price book
  entry, sets the opportunity's price book when it has none and must use it when it
  has one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salesforce_emulator.errors import RecordFailure
from salesforce_emulator.files import CREATE_ONLY, Hooks
from salesforce_emulator.metadata import (
    READ_ONLY,
    _object,
    boolean,
    date,
    number,
    picklist,
    reference,
    text,
)
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.store import Record

if TYPE_CHECKING:
    from salesforce_emulator.org import Org
    from salesforce_emulator.writer import Writer

STANDARD_PRICE_BOOK = "Standard Price Book"


def product() -> ObjectDef:
    return _object(
        "Product2",
        "01t",
        "Product",
        "Products",
        None,
        [
            text("Name", 255, label="Product Name", nillable=False, name_field=True),
            text("ProductCode", 255),
            text("Description", 4000, type="textarea"),
            picklist("Family", ("Hardware", "Software", "Services", "Other")),
            boolean("IsActive", label="Active"),
        ],
    )


def pricebook() -> ObjectDef:
    return _object(
        "Pricebook2",
        "01s",
        "Price Book",
        "Price Books",
        None,
        [
            text("Name", 255, label="Price Book Name", nillable=False, name_field=True),
            text("Description", 255),
            boolean("IsActive", label="Active"),
            FieldDef(
                name="IsStandard",
                type="boolean",
                label="Is Standard Price Book",
                nillable=False,
                defaulted_on_create=True,
                default_value=False,
                **READ_ONLY,
            ),
        ],
    )


def _money(name: str, **kw: Any) -> FieldDef:
    return number(name, "currency", 18, 2, **kw)


def pricebook_entry() -> ObjectDef:
    return _object(
        "PricebookEntry",
        "01u",
        "Price Book Entry",
        "Price Book Entries",
        None,
        [
            text("Name", 255, label="Product Name", name_field=True, **READ_ONLY),
            reference(
                "Pricebook2Id",
                ["Pricebook2"],
                "Pricebook2",
                "PricebookEntries",
                label="Price Book ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            reference(
                "Product2Id",
                ["Product2"],
                "Product2",
                "PricebookEntries",
                label="Product ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            _money("UnitPrice", label="List Price", nillable=False),
            boolean("IsActive", label="Active"),
            boolean("UseStandardPrice", label="Use Standard Price"),
            text("ProductCode", 255, **READ_ONLY),
        ],
    )


def opportunity_line_item() -> ObjectDef:
    return _object(
        "OpportunityLineItem",
        "00k",
        "Opportunity Product",
        "Opportunity Product",
        None,
        [
            reference(
                "OpportunityId",
                ["Opportunity"],
                "Opportunity",
                "OpportunityLineItems",
                label="Opportunity ID",
                nillable=False,
                cascade_delete=True,
                **CREATE_ONLY,
            ),
            reference(
                "PricebookEntryId",
                ["PricebookEntry"],
                "PricebookEntry",
                "OpportunityLineItems",
                label="Price Book Entry ID",
                nillable=False,
                **CREATE_ONLY,
            ),
            reference(
                "Product2Id",
                ["Product2"],
                "Product2",
                None,
                label="Product ID",
                **READ_ONLY,
            ),
            text("Name", 376, label="Opportunity Product Name", **READ_ONLY),
            number("Quantity", "double", 12, 2, nillable=False),
            _money("UnitPrice", label="Sales Price"),
            _money("TotalPrice", label="Total Price"),
            _money("ListPrice", label="List Price", **READ_ONLY),
            date("ServiceDate", label="Date"),
            text("Description", 255, label="Line Description"),
        ],
    )


def price_objects() -> list[ObjectDef]:
    return [product(), pricebook(), pricebook_entry(), opportunity_line_item()]


def standard_pricebook_id(org: Org) -> str | None:
    table = org.store.tables.get("pricebook2")
    if table is None:
        return None
    for record in table.rows.values():
        if record["IsStandard"] and not record["IsDeleted"]:
            return str(record["Id"])
    return None


def ensure_standard_pricebook(org: Org) -> None:
    """Give the org its standard price book unless it has one (a new org, a reset)."""
    if "pricebook2" not in org.store.tables or standard_pricebook_id(org):
        return
    table = org.store.tables["pricebook2"]
    now = org.clock.now_text()
    record = table.blank()
    record.update(
        Id=org.ids.next_id("01s"),
        Name=STANDARD_PRICE_BOOK,
        IsActive=True,
        IsStandard=True,
        IsDeleted=False,
        CreatedDate=now,
        LastModifiedDate=now,
        SystemModstamp=now,
        CreatedById=org.integration_user_id,
        LastModifiedById=org.integration_user_id,
    )
    with org.store.transaction():
        org.store.put(table, record)


def _live(org: Org, sobject: str, record_id: str | None) -> Record | None:
    record = org.store.tables[sobject].rows.get(record_id or "")
    return None if record is None or record["IsDeleted"] else record


def _entries(org: Org, product_id: str) -> list[Record]:
    return [
        r
        for r in org.store.tables["pricebookentry"].rows.values()
        if r["Product2Id"] == product_id and not r["IsDeleted"]
    ]


def _entry_before_insert(writer: Writer, record: Record) -> None:
    org = writer.org
    entries = _entries(org, record["Product2Id"])
    if any(e["Pricebook2Id"] == record["Pricebook2Id"] for e in entries):
        raise RecordFailure.of(
            "DUPLICATE_VALUE",
            "This price definition already exists in this price book",
            ("Product2Id",),
        )
    standard = standard_pricebook_id(org)
    if record["Pricebook2Id"] != standard:
        if not any(e["Pricebook2Id"] == standard for e in entries):
            raise RecordFailure.of(
                "STANDARD_PRICE_NOT_DEFINED",
                "Before creating a custom price, create a standard price.",
            )
    elif record["UseStandardPrice"]:
        raise RecordFailure.of(
            "FIELD_INTEGRITY_EXCEPTION",
            "field integrity exception: UseStandardPrice (a standard price cannot "
            "use the standard price)",
            ("UseStandardPrice",),
        )
    product = _live(org, "product2", record["Product2Id"]) or {}
    record["Name"] = product.get("Name")
    record["ProductCode"] = product.get("ProductCode")


def _pricebook_before_delete(writer: Writer, record: Record) -> None:
    if record["IsStandard"]:
        raise RecordFailure.of(
            "INVALID_OPERATION", "The standard price book cannot be deleted"
        )


def _integrity(message: str, field: str) -> RecordFailure:
    return RecordFailure.of(
        "FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {message}", (field,)
    )


def _line_before_insert(writer: Writer, record: Record) -> None:
    org = writer.org
    entry = _live(org, "pricebookentry", record["PricebookEntryId"])
    opportunity = _live(org, "opportunity", record["OpportunityId"])
    if entry is None or opportunity is None:
        return  # the reference checks have already refused the record
    if not entry["IsActive"]:
        raise _integrity(
            "PricebookEntryId (pricebook entry is inactive)", "PricebookEntryId"
        )
    book = opportunity.get("Pricebook2Id")
    if book is None:
        org.store.put(
            org.store.tables["opportunity"],
            {**opportunity, "Pricebook2Id": entry["Pricebook2Id"]},
        )
    elif book != entry["Pricebook2Id"]:
        raise _integrity(
            "PricebookEntryId (pricebook entry is in a different pricebook than "
            "the one assigned to the opportunity)",
            "PricebookEntryId",
        )
    _price_line(record, entry, opportunity)


def _price_line(record: Record, entry: Record, opportunity: Record) -> None:
    unit, total, quantity = (
        record["UnitPrice"],
        record["TotalPrice"],
        record["Quantity"],
    )
    if unit is not None and total is not None:
        raise _integrity(
            "TotalPrice (only one of unit price and total price may be given)",
            "TotalPrice",
        )
    if unit is None and total is None:
        raise RecordFailure.of(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [UnitPrice]",
            ("UnitPrice",),
        )
    if unit is None:
        unit = round(total / quantity, 2) if quantity else 0.0
    record["UnitPrice"] = unit
    record["TotalPrice"] = round(unit * quantity, 2)
    record["ListPrice"] = entry["UnitPrice"]
    record["Product2Id"] = entry["Product2Id"]
    record["Name"] = f"{opportunity['Name']} {entry['Name'] or ''}".strip()


HOOKS: dict[str, Hooks] = {
    "pricebookentry": Hooks(before_insert=_entry_before_insert),
    "pricebook2": Hooks(before_delete=_pricebook_before_delete),
    "opportunitylineitem": Hooks(before_insert=_line_before_insert),
}
