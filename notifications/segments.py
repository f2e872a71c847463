"""How many SMS segments a text costs.

GSM-7 carries 160 characters in one segment (153 in each part of a longer one); the
characters of its extension table count twice. Anything outside GSM-7 (Chinese,
Cyrillic, Mongolian, Kazakh letters, a non-breaking space) forces UCS-2: 70 UTF-16 units
in one segment, 67 per part.
"""

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_encoding(text: str) -> str:
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text) else "UCS-2"


def sms_segments(text: str) -> int:
    if not text:
        return 0
    if sms_encoding(text) == "GSM-7":
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)
