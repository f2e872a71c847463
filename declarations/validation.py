"""Checks of what a declarant types or uploads."""

import csv
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import filetype
import pycountry

HS_FILE = Path(__file__).parent / "data" / "hs.csv"
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# Accepted by content, whatever the name says: PDF, and photos as phones take them.
ALLOWED_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/heic": ".heic",
    "image/heif": ".heif",
}
# Sanity bounds: a truck carries tens of tonnes, not millions.
MAX_WEIGHT_KG = Decimal("200000")
MAX_QUANTITY = Decimal("10000000")


@lru_cache(maxsize=1)
def hs_table() -> dict[str, str]:
    with HS_FILE.open(encoding="utf-8") as f:
        return {row["code"]: row["description"] for row in csv.DictReader(f)}


def hs_code_problem(code: str) -> str | None:
    """None if the code is 6 to 10 digits under a known chapter and heading, else the problem."""
    if not (code.isdigit() and 6 <= len(code) <= 10):
        return "format"
    table = hs_table()
    if code[:2] not in table:
        return "chapter"
    if code[:4] not in table:
        return "heading"
    return None


def hs_description(code: str) -> str:
    table = hs_table()
    return table.get(code[:4]) or table.get(code[:2], "")


def currency_is_known(code: str) -> bool:
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None


def sniff(head: bytes) -> str | None:
    """The MIME type of an upload by its first bytes, if it is one we accept."""
    kind = filetype.guess(head)
    if kind is None:
        return "application/pdf" if head.startswith(b"%PDF-") else None
    return kind.mime if kind.mime in ALLOWED_TYPES else None
