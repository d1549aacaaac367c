"""Label documents laid out for the printer: one merged PDF, in a label format.

Pure PDF work (pypdfium2, no Django): each label page the platform sent is
placed, scaled to fit and centred, in a cell of the sheet. A6 is the label
printer's roll: one label per A6 page. A4 is an office printer's sheet: four
A6 cells (2 x 2), filled in reading order (top left, top right, bottom left,
bottom right), so labels keep the boxes' order. A label document of several
pages (rare: a carrier's two-part label) takes one cell per page.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import pypdfium2 as pdfium

MM = 72 / 25.4
A6 = (105 * MM, 148 * MM)
A4 = (210 * MM, 297 * MM)

#: label format -> (sheet width, sheet height, columns, rows)
LAYOUTS = {
    "a6": (*A6, 1, 1),
    "a4": (*A4, 2, 2),
}


def is_readable(document: bytes) -> bool:
    """Whether `document` is a PDF with at least one page (what the platform should send)."""
    try:
        pdf = pdfium.PdfDocument(document)
    except pdfium.PdfiumError:
        return False
    try:
        return len(pdf) > 0
    finally:
        pdf.close()


def labels_per_sheet(label_format: str) -> int:
    _width, _height, columns, rows = LAYOUTS[label_format]
    return columns * rows


def merge_labels(documents: Iterable[bytes], *, label_format: str) -> tuple[bytes, int]:
    """One PDF of every page of `documents`, in order, laid out as `label_format` says;
    returns (the PDF, its page count). Raises `ValueError` for an unknown format and
    `pypdfium2.PdfiumError` for a document that is no readable PDF."""
    if label_format not in LAYOUTS:
        raise ValueError(f"unknown label format: {label_format}")
    width, height, columns, rows = LAYOUTS[label_format]
    cell_width, cell_height = width / columns, height / rows
    per_sheet = columns * rows
    merged = pdfium.PdfDocument.new()
    sources = []
    try:
        placed = 0
        sheet = None
        for data in documents:
            source = pdfium.PdfDocument(data)
            sources.append(source)
            for index in range(len(source)):
                slot = placed % per_sheet
                if slot == 0:
                    if sheet is not None:
                        sheet.gen_content()
                    sheet = merged.new_page(width, height)
                column, row = slot % columns, slot // columns
                # PDF's y axis points up: the first row is the top one.
                cell = (column * cell_width, height - (row + 1) * cell_height)
                _place(merged, source, index, sheet, cell, (cell_width, cell_height))
                placed += 1
        if sheet is not None:
            sheet.gen_content()
        buffer = io.BytesIO()
        merged.save(buffer)
        return buffer.getvalue(), len(merged)
    finally:
        merged.close()
        for source in sources:
            source.close()


def _place(merged, source, index: int, sheet, cell, size) -> None:
    page = source[index]
    left, bottom, right, top = page.get_mediabox()
    page_width, page_height = right - left, top - bottom
    cell_x, cell_y = cell
    cell_width, cell_height = size
    scale = min(cell_width / page_width, cell_height / page_height)
    matrix = (
        pdfium.PdfMatrix()
        .translate(-left, -bottom)
        .scale(scale, scale)
        .translate(
            cell_x + (cell_width - page_width * scale) / 2,
            cell_y + (cell_height - page_height * scale) / 2,
        )
    )
    label = source.page_as_xobject(index, merged)
    obj = label.as_pageobject()
    obj.transform(matrix)
    sheet.insert_obj(obj)
