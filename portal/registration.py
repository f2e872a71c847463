"""Registration numbers of firms, checked where the country's scheme is known.

python-stdnum knows China's Unified Social Credit Code and Russia's INN. It has no
module for Kazakhstan's BIN, so its published check-digit rule is implemented here.
"""

from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import uscc
from stdnum.ru import inn

_BIN_WEIGHTS_1 = range(1, 12)
_BIN_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def kz_bin_check_digit(first11: str) -> int | None:
    digits = [int(c) for c in first11]
    total = sum(d * w for d, w in zip(digits, _BIN_WEIGHTS_1, strict=True)) % 11
    if total == 10:
        total = sum(d * w for d, w in zip(digits, _BIN_WEIGHTS_2, strict=True)) % 11
    return None if total == 10 else total


def kz_bin_validate(number: str) -> str:
    compact = "".join(number.split()).replace("-", "")
    if len(compact) != 12 or not compact.isdigit():
        raise ValueError("A BIN has 12 digits.")
    if not 1 <= int(compact[2:4]) <= 12:
        raise ValueError("Digits 3-4 of a BIN are the month of registration.")
    if kz_bin_check_digit(compact[:11]) != int(compact[11]):
        raise ValueError("The check digit does not match.")
    return compact


def _stdnum(module):
    def validate(number: str) -> str:
        try:
            return module.validate(number)
        except stdnum_exceptions.ValidationError as exc:
            raise ValueError(str(exc)) from None

    return validate


# country -> (validator returning the compact form, name of the scheme)
SCHEMES = {
    "CN": (_stdnum(uscc), _("Unified Social Credit Code")),
    "KZ": (kz_bin_validate, _("BIN")),
    "RU": (_stdnum(inn), _("INN")),
}


def registration_number_clean(country: str, number: str) -> str:
    """Return the number in its compact form; raise ValueError if it is not valid."""
    number = (number or "").strip()
    if not number:
        raise ValueError("empty")
    scheme = SCHEMES.get(str(country))
    if scheme is None:
        compact = "".join(number.split()).upper()
        if len(compact) > 40 or not compact.replace("-", "").replace("/", "").isalnum():
            raise ValueError("format")
        return compact
    return scheme[0](number)


def scheme_name(country: str) -> str | None:
    scheme = SCHEMES.get(str(country))
    return scheme[1] if scheme else None
