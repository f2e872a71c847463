import re

# Cyrillic letters that look like Latin ones on a plate (Russian and Kazakh plates),
# so that "А 123 ВС" and "A123BC" are the same vehicle.
_LOOKALIKES = str.maketrans("АВЕКМНОРСТУХ", "ABEKMHOPCTYX")
_SEPARATORS = re.compile(r"[\s\-_.·]+")


def plate_normalise(plate: str) -> str:
    return _SEPARATORS.sub("", plate or "").upper().translate(_LOOKALIKES)


def plate_is_plausible(plate: str) -> bool:
    normalised = plate_normalise(plate)
    return 2 <= len(normalised) <= 12 and normalised.isalnum()
