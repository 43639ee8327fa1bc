"""``GET /services/data/`` (versions) and ``GET /services/data/vXX.X`` (resources).

The resource names are those a real org lists for a recent version (Salesforce's "List
Available REST Resources" example); clients read only the keys they need, above all
``identity``, the caller's identity URL (jsforce-based tools find the current user
through it). Most resources are listed but not served by the emulator: a request to
one of them answers 404 NOT_FOUND, as an org without that feature does.
"""

from __future__ import annotations

from typing import Final

FIRST_VERSION: Final = 31
LAST_VERSION: Final = 62
_SEASONS: Final = ("Winter", "Spring", "Summer")

# In the order real orgs list them; "identity" is added per caller.
RESOURCE_NAMES: Final = (
    "tooling",
    "metadata",
    "eclair",
    "folders",
    "prechatForms",
    "contact-tracing",
    "jsonxform",
    "chatter",
    "payments",
    "tabs",
    "appMenu",
    "quickActions",
    "queryAll",
    "commerce",
    "wave",
    "iot",
    "analytics",
    "search",
    "smartdatadiscovery",
    "composite",
    "parameterizedSearch",
    "fingerprint",
    "theme",
    "nouns",
    "domino",
    "event",
    "serviceTemplates",
    "recent",
    "connect",
    "licensing",
    "limits",
    "process",
    "dedupe",
    "async-queries",
    "query",
    "jobs",
    "match",
    "emailConnect",
    "localizedvalue",
    "mobile",
    "consent",
    "tokenizer",
    "compactLayouts",
    "knowledgeManagement",
    "sobjects",
    "actions",
    "support",
    "scheduling",
    "sites",
    "ui-api",
)


def release_label(major: int) -> str:
    """``59`` -> ``Winter '24``: three releases a year, v59 was Winter '24."""
    offset = major - 59
    return f"{_SEASONS[offset % 3]} '{24 + offset // 3:02d}"


def api_versions() -> list[dict[str, str]]:
    """``GET /services/data/``: every version the emulator serves, oldest first."""
    return [
        {
            "label": release_label(major),
            "url": f"/services/data/v{major}.0",
            "version": f"{major}.0",
        }
        for major in range(FIRST_VERSION, LAST_VERSION + 1)
    ]


def is_served(version: str) -> bool:
    """Whether ``version`` (``59.0``) is one ``GET /services/data/`` lists."""
    major, _, minor = version.partition(".")
    return minor == "0" and FIRST_VERSION <= int(major) <= LAST_VERSION


def resource_list(version: str, identity_url: str) -> dict[str, str]:
    """``GET /services/data/vXX.X``: resource name -> URL, with ``identity``."""
    root = f"/services/data/v{version}"
    resources = {name: f"{root}/{name}" for name in RESOURCE_NAMES}
    # Real orgs list identity among the others, as an absolute URL.
    ordered = dict(list(resources.items())[:19])
    ordered["identity"] = identity_url
    ordered.update(resources)
    return ordered
