"""Realistic demo data: Accounts in 3-level hierarchies, Contacts, Opportunities.

Deterministic for a given seed (values and order; ids depend on the org's id space).
Writes go straight to the org (no API calls counted), with full validation.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from salesforce_emulator.metadata import ACCOUNT_TYPES, INDUSTRIES, LEAD_SOURCES

if TYPE_CHECKING:
    from salesforce_emulator.org import Org

BASE_DATE = date(2025, 1, 1)
COMPANY_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Pied Piper",
    "Massive Dynamic",
    "Oscorp",
    "Gringotts",
    "Nakatomi",
    "Monarch",
    "Aperture",
    "Black Mesa",
    "Blue Sun",
    "Dunder Mifflin",
    "Prestige Worldwide",
    "Sterling Cooper",
    "Oceanic",
    "Virtucon",
    "Zorg",
    "Bluth",
    "Krusty",
    "Gekko",
    "Rekall",
    "Omni",
    "Axiom",
    "Veridian",
    "Ingen",
    "Abstergo",
)
COMPANY_SUFFIXES = (
    "Inc.",
    "Corp",
    "Ltd",
    "Group",
    "Holdings",
    "Industries",
    "Labs",
    "Systems",
    "Partners",
    "& Co.",
)
REGIONS = ("North", "South", "East", "West", "Central", "EMEA", "APAC", "Americas")
DEPARTMENTS = ("Sales", "Finance", "IT", "Operations", "Marketing", "Legal", "Support")
FIRST_NAMES = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Amelie",
    "Lucas",
    "Chloe",
    "Hugo",
    "Ines",
    "Noah",
    "Yuki",
    "Ravi",
    "Fatima",
    "Mateo",
    "Olga",
    "Kwame",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Dubois",
    "Moreau",
    "Tanaka",
    "Patel",
    "Okafor",
    "Kowalski",
    "Novak",
    "Rossi",
    "Silva",
    "Nguyen",
)
TITLES = (
    "CEO",
    "CFO",
    "CTO",
    "VP Sales",
    "Head of IT",
    "Buyer",
    "Office Manager",
    "Account Manager",
    "Engineer",
    "Analyst",
)
CITIES = (
    ("San Francisco", "CA", "USA"),
    ("New York", "NY", "USA"),
    ("Austin", "TX", "USA"),
    ("London", None, "United Kingdom"),
    ("Paris", None, "France"),
    ("Berlin", None, "Germany"),
    ("Tokyo", None, "Japan"),
    ("Toronto", "ON", "Canada"),
)
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)


def _domain(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())[:20] + ".example.com"


def _company(rng: random.Random, index: int) -> str:
    word = COMPANY_WORDS[index % len(COMPANY_WORDS)]
    return f"{word} {rng.choice(COMPANY_SUFFIXES)}" + (
        f" {index // len(COMPANY_WORDS) + 1}" if index >= len(COMPANY_WORDS) else ""
    )


def _account(
    rng: random.Random,
    name: str,
    owner: str,
    record_type: str | None,
    parent: str | None,
) -> dict[str, Any]:
    city, state, country = rng.choice(CITIES)
    values: dict[str, Any] = {
        "Name": name,
        "OwnerId": owner,
        "ParentId": parent,
        "Industry": rng.choice(INDUSTRIES),
        "Type": rng.choice(ACCOUNT_TYPES),
        "AccountSource": rng.choice(LEAD_SOURCES),
        "Rating": rng.choice(("Hot", "Warm", "Cold")),
        "Phone": f"+1 555 {rng.randrange(1000, 9999)}",
        "Website": f"https://www.{_domain(name)}",
        "NumberOfEmployees": rng.randrange(5, 50000),
        "AnnualRevenue": float(rng.randrange(100, 500000) * 1000),
        "BillingCity": city,
        "BillingState": state,
        "BillingCountry": country,
        "AccountNumber": f"ACC-{rng.randrange(100000, 999999)}",
    }
    if record_type:
        values["RecordTypeId"] = record_type
    return values


def _hierarchy_sizes(total: int) -> tuple[int, int, int]:
    """Split ``total`` accounts into roots, second and third level (about 1:2:3)."""
    roots = max(1, round(total / 6)) if total else 0
    middle = min(total - roots, round(total / 3))
    return roots, middle, total - roots - middle


def seed_demo_data(
    org: Org,
    accounts: int = 200,
    seed: int = 42,
    contacts_per_account: tuple[int, int] = (1, 5),
    opportunities_per_account: tuple[int, int] = (0, 3),
    files: int = 12,
) -> dict[str, int]:
    """Fill ``org`` with demo data; returns the number of records created per object."""
    rng = random.Random(seed)
    owners = [u["Id"] for u in org.records("User")]
    record_types = {r["DeveloperName"]: r["Id"] for r in org.record_types("Account")}
    roots, middle, leaves = _hierarchy_sizes(accounts)
    account_ids: list[str] = []
    levels: list[list[str]] = []
    index = 0
    for size, parents in ((roots, None), (middle, 0), (leaves, 1)):
        level_rows = []
        for _ in range(size):
            parent = (
                rng.choice(levels[parents])
                if parents is not None and levels[parents]
                else None
            )
            name = (
                _company(rng, index)
                if parent is None
                else (f"{_company(rng, index)} ({rng.choice(REGIONS)})")
            )
            record_type = record_types.get(
                "Partner" if rng.random() < 0.2 else "Business"
            )
            level_rows.append(
                _account(rng, name, rng.choice(owners), record_type, parent)
            )
            index += 1
        ids = org.insert_many("Account", level_rows)
        levels.append(ids)
        account_ids.extend(ids)
    contacts = _contacts(org, rng, account_ids, owners, contacts_per_account)
    opportunities = _opportunities(
        org, rng, account_ids, owners, opportunities_per_account
    )
    from salesforce_emulator.seed_files import seed_files, seed_prices

    return {
        "Account": len(account_ids),
        "Contact": contacts,
        "Opportunity": opportunities,
        "ContentVersion": seed_files(org, rng, files),
        "PricebookEntry": seed_prices(org),
    }


def _contacts(
    org: Org,
    rng: random.Random,
    account_ids: list[str],
    owners: list[str],
    per_account: tuple[int, int],
) -> int:
    rows: list[dict[str, Any]] = []
    for account_id in account_ids:
        for _ in range(rng.randint(*per_account)):
            if rows and rng.random() < 0.05:
                # Some people appear under several accounts with the same name and e-mail.
                twin = rng.choice(rows)
                first, last, email = twin["FirstName"], twin["LastName"], twin["Email"]
            else:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                email = (
                    f"{first}.{last}{rng.randrange(1, 999)}@{rng.choice(COMPANY_WORDS)}"
                    f".example.com".lower().replace(" ", "")
                )
            city, state, country = rng.choice(CITIES)
            rows.append(
                {
                    "FirstName": first,
                    "LastName": last,
                    "Email": email,
                    "AccountId": account_id,
                    "Title": rng.choice(TITLES),
                    "Department": rng.choice(DEPARTMENTS),
                    "Phone": f"+1 555 {rng.randrange(1000, 9999)}",
                    "OwnerId": rng.choice(owners),
                    "LeadSource": rng.choice(LEAD_SOURCES),
                    "MailingCity": city,
                    "MailingState": state,
                    "MailingCountry": country,
                    "Birthdate": (
                        date(1960, 1, 1) + timedelta(days=rng.randrange(15000))
                    ).isoformat(),
                }
            )
    org.insert_many("Contact", rows)
    return len(rows)


def _opportunities(
    org: Org,
    rng: random.Random,
    account_ids: list[str],
    owners: list[str],
    per_account: tuple[int, int],
) -> int:
    rows: list[dict[str, Any]] = []
    for account_id in account_ids:
        for number in range(rng.randint(*per_account)):
            stage = rng.choice(STAGES)
            rows.append(
                {
                    "Name": f"Deal {number + 1} - {rng.choice(('Renewal', 'Expansion', 'New'))}",
                    "AccountId": account_id,
                    "StageName": stage,
                    "CloseDate": (
                        BASE_DATE + timedelta(days=rng.randrange(-180, 180))
                    ).isoformat(),
                    "Amount": float(rng.randrange(5, 500) * 1000),
                    "Probability": float(
                        100
                        if stage == "Closed Won"
                        else 0
                        if stage == "Closed Lost"
                        else rng.choice((10, 20, 50, 75, 90))
                    ),
                    "LeadSource": rng.choice(LEAD_SOURCES),
                    "OwnerId": rng.choice(owners),
                }
            )
    org.insert_many("Opportunity", rows)
    return len(rows)
