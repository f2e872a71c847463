"""Reading a convoy file: one vehicle per row, as CSV (UTF-8, comma or semicolon) or XLSX.

The kind is told by the content, never by the name. Nothing here touches the database; the
rows are checked against the firm's vehicles and drivers by ``services.convoy_process``.
"""

import csv
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

import filetype
import openpyxl
from django.utils.translation import gettext as _

from portal.errors import ApplicationError

COLUMNS = ("plate", "driver", "gross_kg", "net_kg", "planned_arrival")
REQUIRED = ("plate", "driver", "gross_kg", "net_kg")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
# An XLSX is a zip: refuse one that would unpack to far more than a sheet of 2,000 rows needs.
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
# Columns past these are ignored; blank rows past these end the sheet (spreadsheets often
# carry thousands of formatted but empty rows).
MAX_COLUMNS = 50
MAX_BLANK_RUN = 1000
OLD_EXCEL = b"\xd0\xcf\x11\xe0"
_SEPARATORS = re.compile(r"[\s\-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # never in a CSV, common in binaries


@dataclass(frozen=True)
class Row:
    number: int  # as the spreadsheet shows it, counting the header and any blank rows
    values: dict[str, str]


def _refuse(message, code: str) -> ApplicationError:
    return ApplicationError(message, code=code, extra={"field": "file"})


def _not_a_sheet() -> ApplicationError:
    return _refuse(
        _("This file is neither a CSV nor an XLSX spreadsheet, whatever its name says."),
        code="convoy_file_type",
    )


def read_rows(data: bytes) -> list[Row]:
    """The data rows of a convoy file, each with the known columns as stripped text."""
    if not data.strip():
        raise _refuse(_("The file is empty."), code="convoy_empty")
    if len(data) > MAX_BYTES:
        raise _refuse(_("The file is larger than 2 MB."), code="convoy_too_large")
    if data.startswith(b"PK"):
        lines = _xlsx_lines(data)
    elif data.startswith(OLD_EXCEL):
        raise _refuse(
            _("Old Excel files (.xls) cannot be read: save the sheet as XLSX or CSV."),
            code="convoy_file_type",
        )
    else:
        lines = _csv_lines(data)
    return _rows(lines)


def _rows(lines) -> list[Row]:
    header: dict[str, int] | None = None
    rows: list[Row] = []
    blank_run = 0
    for number, cells in lines:
        if not any(cells):
            blank_run += 1
            if blank_run >= MAX_BLANK_RUN:
                break
            continue
        blank_run = 0
        if header is None:
            header = _header(cells)
            continue
        if len(rows) == MAX_ROWS:
            raise _refuse(
                _("The file has more than %(max)d rows: split it into several convoys.") % {"max": MAX_ROWS},
                code="convoy_too_many_rows",
            )
        values = {name: (cells[i] if i < len(cells) else "") for name, i in header.items()}
        rows.append(Row(number=number, values=values))
    if header is None:
        raise _refuse(_("The file is empty."), code="convoy_empty")
    if not rows:
        raise _refuse(_("The file has a header row but no vehicles."), code="convoy_no_rows")
    return rows


def _header(cells: list[str]) -> dict[str, int]:
    """Where each known column is; names are matched ignoring case, spaces and dashes."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = _SEPARATORS.sub("_", cell.strip().lower())
        if name not in COLUMNS:
            continue  # a column of the firm's own, such as a note: ignored
        if name in positions:
            raise _refuse(
                _("The column %(column)s appears twice.") % {"column": name}, code="convoy_duplicate_column"
            )
        positions[name] = i
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise _refuse(
            _(
                "Columns are missing: %(missing)s. The first row must name the columns "
                "plate, driver, gross_kg, net_kg and, if wanted, planned_arrival."
            )
            % {"missing": ", ".join(missing)},
            code="convoy_missing_columns",
        )
    return positions


def _csv_lines(data: bytes):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or _CONTROL.search(text):
        if text is None and b"\x00" not in data and filetype.guess(data[:262]) is None:
            raise _refuse(
                _('The CSV file is not in UTF-8: save it again as "CSV UTF-8".'), code="convoy_encoding"
            )
        raise _not_a_sheet()  # binary: an image, a PDF, a program
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # Numbered by record, not by line: a quoted cell may hold a line break.
        for number, cells in enumerate(reader, start=1):
            yield number, [cell.strip() for cell in cells[:MAX_COLUMNS]]
    except csv.Error:
        raise _not_a_sheet() from None


def _xlsx_lines(data: bytes):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _not_a_sheet() from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _refuse(_("The spreadsheet is too large."), code="convoy_too_large")
    try:
        with warnings.catch_warnings():
            # Sheets written by other programs draw style warnings that say nothing about the data.
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # any zip that is not a workbook (a .docx, an .ods, a damaged file)
        raise _not_a_sheet() from None
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
            yield number, [_cell_text(cell) for cell in cells]
    except Exception:  # broken XML inside a well-formed zip
        raise _not_a_sheet() from None
    finally:
        book.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 40500, not 40500.0; a phone typed without "+" stays whole
    return str(value).strip()


def sample_csv(*, plate: str, driver: str, gross_kg: str, net_kg: str, planned_arrival: str) -> str:
    """A header and one example row; with a BOM, so that Excel opens it as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    # A leading = + - @ makes a spreadsheet read a cell as a formula; plates match without them.
    writer.writerow([plate.lstrip("=+-@"), driver, gross_kg, net_kg, planned_arrival])
    return "\ufeff" + out.getvalue()
