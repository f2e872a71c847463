"""QR codes of passes: SVG for pages and the API, PNG for whoever cannot show SVG.

Error correction M: a phone screen is flat and clean, but may be scratched or glared; M keeps
a 141-character token at version 6 (41×41 modules), which any scanner reads at arm's length.
"""

import io

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathImage


def _code(token: str, image_factory, **kwargs):
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=image_factory, **kwargs
    )
    qr.add_data(token)
    qr.make(fit=True)
    return qr.make_image()


def svg(token: str) -> str:
    """An <svg> element (no XML declaration), to inline in a page or serve as a file."""
    return _code(token, SvgPathImage).to_string(encoding="unicode")


def png(token: str, *, box_size: int = 8) -> bytes:
    buffer = io.BytesIO()
    _code(token, PyPNGImage, box_size=box_size).save(buffer)
    return buffer.getvalue()
