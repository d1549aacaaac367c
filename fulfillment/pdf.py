"""The packing room's exports as A4 PDF files: pick list, packing slips and production plan.

Drawn from the same content as the CSV files and printable pages
(`fulfillment.exports`: `pick_groups`, `packing_slips`, `production`), in the
active language and time zone: call it inside the staff member's, like the
pages. It reads nothing from the database.

- Every page carries the organization's name, the export's title, the batch's
  date, its ships-on date and the page number; an open batch's pages say they
  are a preview.
- Packing slips: one page per box. Its line's code is printed large and as a
  Code128 barcode: the same digits (line id and check digit) that the batch
  page's scan field reads (`fulfillment.services.line_prepare_code`). A slip
  longer than a page is shrunk to fit, so a page is always one box, and the
  barcode keeps its size.
- Fonts: the PDF standard fonts (Helvetica), which need nothing installed on
  the server and cover French (Windows-1252). A letter outside it prints
  without its accent (ą as a) where it has one (`printable`).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Frame,
    KeepInFrame,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from fulfillment import exports

MARGIN = 15 * mm
HEADER_HEIGHT = 16 * mm
FOOTER_HEIGHT = 8 * mm
#: The barcode's narrowest bar and height: wide enough for a handheld scanner at arm's
#: length and for a 203 dpi printer (0.5 mm is 4 dots).
BAR_WIDTH = 0.5 * mm
BAR_HEIGHT = 16 * mm

FONT = "Helvetica"
BOLD = "Helvetica-Bold"
GREY = colors.HexColor("#444444")
LIGHT = colors.HexColor("#eeeeee")
RULE = colors.HexColor("#999999")
PREVIEW = colors.HexColor("#7a3d00")

BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=12.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
SMALL_BOLD = ParagraphStyle("small-bold", parent=SMALL, fontName=BOLD)
HEADING = ParagraphStyle(
    "heading", parent=BODY, fontName=BOLD, fontSize=12, leading=15, spaceBefore=8, spaceAfter=4
)
ADDRESS = ParagraphStyle("address", parent=BODY, fontSize=13, leading=16.5)
CUSTOMER = ParagraphStyle("customer", parent=ADDRESS, fontName=BOLD, spaceAfter=2)
NOTE = ParagraphStyle(
    "note", parent=BODY, fontSize=11, leading=14, borderColor=colors.black, borderWidth=1.5,
    borderPadding=5, spaceBefore=10, spaceAfter=6,
)  # fmt: skip


def printable(text: object) -> str:
    """The text as the standard fonts print it: a letter they lack loses its accent."""
    text = str(text)
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        text = "".join(
            char
            if _encodable(char)
            else "".join(c for c in unicodedata.normalize("NFKD", char) if _encodable(c)) or char
            for char in text
        )
    return text


def _encodable(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def para(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of plain text (names and notes come from customers: no markup)."""
    return Paragraph(escape(printable(text)), style)


def local_date(value) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def kilograms(value: Decimal | None) -> str:
    return "—" if value is None else formats.number_format(value, decimal_pos=3)


# --- Every page ----------------------------------------------------------------------------


class Page:
    """What every page of one export prints around its content: who, what, which batch."""

    def __init__(self, content: exports.BatchContent, title: str, pagesize: tuple[float, float]):
        batch = content.batch
        self.pagesize = pagesize
        self.organization = printable(batch.organization)
        self.title = printable(f"{title} · {batch}")
        self.ships_on = printable(_("Ships on: %(date)s") % {"date": local_date(batch.ships_on)})
        self.printed = printable(
            _("Printed %(when)s")
            % {"when": formats.date_format(timezone.localtime(), "DATETIME_FORMAT")}
        )
        self.preview = (
            printable(
                _("Preview: the batch is still open until %(cutoff)s")
                % {
                    "cutoff": formats.date_format(
                        timezone.localtime(batch.cutoff_at), "DATETIME_FORMAT"
                    )
                }
            )
            if content.preview
            else ""
        )

    @property
    def frame(self) -> tuple[float, float, float, float]:
        """The content's frame: x, y, width, height."""
        width, height = self.pagesize
        top = HEADER_HEIGHT + (5 * mm if self.preview else 0)
        return (
            MARGIN,
            MARGIN + FOOTER_HEIGHT,
            width - 2 * MARGIN,
            height - 2 * MARGIN - FOOTER_HEIGHT - top,
        )

    def draw(self, canvas: Canvas, number: int) -> None:
        width, height = self.pagesize
        canvas.saveState()
        top = height - MARGIN
        canvas.setFont(BOLD, 11)
        canvas.drawString(MARGIN, top - 11, self.organization)
        canvas.setFont(FONT, 10)
        canvas.drawRightString(width - MARGIN, top - 11, self.ships_on)
        canvas.setFont(BOLD, 13)
        canvas.drawString(MARGIN, top - 27, self.title)
        rule = top - HEADER_HEIGHT + 3 * mm
        canvas.setLineWidth(1.5)
        canvas.line(MARGIN, rule, width - MARGIN, rule)
        if self.preview:
            canvas.setFillColor(PREVIEW)
            canvas.setFont(BOLD, 10)
            canvas.drawString(MARGIN, rule - 5 * mm + 1, self.preview)
            canvas.setFillColor(colors.black)
        canvas.setFont(FONT, 8)
        canvas.setFillColor(GREY)
        canvas.drawString(MARGIN, MARGIN, self.printed)
        canvas.drawRightString(
            width - MARGIN, MARGIN, printable(_("Page %(number)s") % {"number": number})
        )
        canvas.restoreState()


def document(page: Page, story: list[Flowable]) -> bytes:
    """The story flowed over as many pages as it takes, each with `page`'s header."""
    buffer = io.BytesIO()
    x, y, width, height = page.frame
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page.pagesize,
        leftMargin=x,
        rightMargin=page.pagesize[0] - x - width,
        bottomMargin=y,
        topMargin=page.pagesize[1] - y - height,
        title=page.title,
        author=page.organization,
        creator="Cadence",
    )

    def decorate(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        page.draw(canvas, doc.page)

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def table(
    rows: list[list[object]],
    widths: Sequence[float],
    *,
    numbers: Sequence[int] = (),
    totals: Sequence[int] = (),
    indented: Sequence[int] = (),
) -> Table:
    """A ruled table, its header row repeated on each page; `numbers` are right-aligned
    columns, `totals` bold rows, `indented` rows shifted right."""
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, RULE),
        ("BACKGROUND", (0, 0), (-1, 0), LIGHT),
        ("FONT", (0, 0), (-1, -1), FONT, 8),
        ("FONT", (0, 0), (-1, 0), BOLD, 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    style += [("ALIGN", (column, 0), (column, -1), "RIGHT") for column in numbers]
    for row in totals:
        style += [
            ("FONT", (0, row), (-1, row), BOLD, 8),
            ("BACKGROUND", (0, row), (-1, row), LIGHT),
        ]
    style += [("LEFTPADDING", (0, row), (1, row), 14) for row in indented]
    return Table(
        [[cell if isinstance(cell, Flowable) else printable(cell) for cell in row] for row in rows],
        colWidths=list(widths),
        repeatRows=1,
        style=TableStyle(style),
    )


# --- Pick list -------------------------------------------------------------------------------


def pick_list_pdf(content: exports.BatchContent) -> bytes:
    """By product (or variant): a row per box with an empty square to tick, and a total."""
    page = Page(content, _("Pick list"), landscape(A4))
    rows = exports.pick_rows(content)
    columns = content.columns
    quantity = sum(row.quantity for row in rows)
    story: list[Flowable] = [
        para(
            ngettext("%(counter)s box", "%(counter)s boxes", len(content.parcels))
            % {"counter": len(content.parcels)}
            + " · "
            + ngettext("%(counter)s item to pick", "%(counter)s items to pick", quantity)
            % {"counter": quantity},
            SMALL,
        )
    ]
    width = page.frame[2]
    fixed = [8 * mm, 24 * mm, 16 * mm, 32 * mm]  # tick, code, quantity, status
    flexible = width - sum(fixed)
    customer = flexible / (1 + 0.75 * len(columns)) if columns else flexible
    preference = (flexible - customer) / len(columns) if columns else 0
    widths = [fixed[0], fixed[1], customer, fixed[2], *[preference] * len(columns), fixed[3]]
    header = [
        "",
        _("Code"),
        _("Customer"),
        _("Quantity"),
        *[para(spec.label, SMALL_BOLD) for spec in columns],
        _("Status"),
    ]
    for group in exports.pick_groups(rows):
        body = [
            [
                "",
                row.parcel.code or "—",
                para(row.parcel.customer_name, SMALL),
                row.quantity,
                *[para(value, SMALL) for value in row.values],
                para(row.parcel.status_label, SMALL),
            ]
            for row in group.rows
        ]
        total = ["", _("Total %(name)s") % {"name": group.name}, "", group.quantity]
        total += [""] * (len(columns) + 1)
        grid = table([header, *body, total], widths, numbers=[3], totals=[len(body) + 1])
        # The tick column: an empty square per box, drawn larger than the grid.
        grid.setStyle(
            TableStyle(
                [
                    ("SPAN", (1, len(body) + 1), (2, len(body) + 1)),
                    *[
                        ("BOX", (0, row), (0, row), 1, colors.black)
                        for row in range(1, len(body) + 1)
                    ],
                ]
            )
        )
        story += [para(f"{group.name} ({group.sku})", HEADING), grid]
    if len(story) == 1:
        story.append(para(_("Nothing to pick in this batch."), HEADING))
    return document(page, story)


# --- Packing slips ---------------------------------------------------------------------------


def slip_story(slip: exports.PackingSlip, content: exports.BatchContent) -> list[Flowable]:
    """A slip's body, under its code: the address, what is in the box, preferences, notes."""
    batch = content.batch
    story: list[Flowable] = [para(_("Ship to"), HEADING), para(slip.parcel.customer_name, CUSTOMER)]
    if slip.address_lines:
        story.append(
            Paragraph("<br/>".join(escape(printable(line)) for line in slip.address_lines), ADDRESS)
        )
    else:
        story.append(para(_("No shipping address"), BODY))
    story.append(para(_("In the box"), HEADING))
    items = [[_("Quantity"), _("Product"), capfirst(_("SKU"))]]
    items += [
        [
            item.get("quantity", ""),
            para(item.get("name", ""), SMALL),
            para(item.get("sku", ""), SMALL),
        ]
        for item in slip.items
    ] or [[_("No items"), "", ""]]
    story.append(table(items, [22 * mm, 110 * mm, 48 * mm], numbers=[0]))
    if slip.preferences:
        story.append(para(_("Preferences"), HEADING))
        story.append(
            table(
                [
                    [para(row.label, SMALL_BOLD), para(row.display, SMALL)]
                    for row in slip.preferences
                ],
                [60 * mm, 120 * mm],
            )
        )
    for note in slip.notes:
        # The page's sentence (its French puts a space before the colon), markup included.
        text = _("<strong>%(label)s:</strong> %(value)s") % {
            "label": escape(printable(note.label)),
            "value": escape(printable(note.display)),
        }
        story.append(Paragraph(text, NOTE))
    dates = " · ".join(
        (
            _("Cycle: %(date)s") % {"date": local_date(batch.cycle_date)},
            _("Ships on: %(date)s") % {"date": local_date(batch.ships_on)},
        )
    )
    story += [Spacer(1, 8), para(dates, SMALL)]
    return story


def draw_code(canvas: Canvas, code: str, right: float, top: float) -> None:
    """The line's code, large, and its Code128 barcode under it, right-aligned at `right`."""
    canvas.setFont(FONT, 9)
    canvas.setFillColor(GREY)
    canvas.drawRightString(right, top - 9, printable(_("Code")))
    canvas.setFillColor(colors.black)
    canvas.setFont(BOLD, 28)
    canvas.drawRightString(right, top - 36, code)
    barcode = Code128(code, barWidth=BAR_WIDTH, barHeight=BAR_HEIGHT, humanReadable=False)
    barcode.drawOn(canvas, right - barcode.width, top - 42 - BAR_HEIGHT)


def packing_slips_pdf(content: exports.BatchContent) -> bytes:
    """One page per box: who and where, its code and barcode, what to put in it."""
    page = Page(content, _("Packing slips"), A4)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(page.title)
    canvas.setAuthor(page.organization)
    canvas.setCreator("Cadence")
    x, y, width, height = page.frame
    top = y + height
    slips = exports.packing_slips(content)
    for number, slip in enumerate(slips, start=1):
        page.draw(canvas, number)
        canvas.setFont(FONT, 10)
        canvas.setFillColor(GREY)
        canvas.drawString(x, top - 12, printable(slip.parcel.status_label))
        canvas.setFillColor(colors.black)
        if slip.parcel.code:
            draw_code(canvas, slip.parcel.code, x + width, top)
        else:
            canvas.setFillColor(PREVIEW)
            canvas.setFont(BOLD, 12)
            canvas.drawRightString(
                x + width, top - 14, printable(_("Preview: no code until the batch is locked"))
            )
            canvas.setFillColor(colors.black)
        # Under the code and its barcode (or the preview's sentence), and a gap.
        below = height - (42 + BAR_HEIGHT if slip.parcel.code else 18) - 4 * mm
        body = KeepInFrame(width, below, slip_story(slip, content), mode="shrink")
        Frame(x, y, width, below, 0, 0, 0, 0, showBoundary=0).addFromList([body], canvas)
        canvas.showPage()
    if not slips:
        page.draw(canvas, 1)
        canvas.setFont(FONT, 11)
        canvas.drawString(x, top - 14, printable(_("No box in this batch.")))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- Production plan -------------------------------------------------------------------------


def production_plan_pdf(content: exports.BatchContent) -> bytes:
    """Per product (and variant): quantity and kilograms; then per preference and value."""
    page = Page(content, _("Production plan"), A4)
    products = exports.production(content)
    width = page.frame[2]
    numbers = [26 * mm, 26 * mm]
    rows: list[list[object]] = [[capfirst(_("SKU")), _("Product"), _("Quantity"), _("Kilograms")]]
    indented = []
    for product in products:
        total = product.total
        rows.append(
            [
                para(total.sku, SMALL),
                para(total.name, SMALL),
                total.quantity,
                kilograms(total.kilograms),
            ]
        )
        for variant in product.variants:
            indented.append(len(rows))
            rows.append(
                [
                    para(variant.sku, SMALL),
                    para(variant.name, SMALL),
                    variant.quantity,
                    kilograms(variant.kilograms),
                ]
            )
    text = (width - sum(numbers)) / 3
    story: list[Flowable] = [para(_("Per product"), HEADING)]
    if products:
        story.append(table(rows, [text, 2 * text, *numbers], numbers=[2, 3], indented=indented))
    else:
        story.append(para(_("Nothing to produce in this batch."), BODY))
    for product in products:
        if not product.fields:
            continue
        values: list[list[object]] = [[_("Preference"), _("Value"), _("Quantity"), _("Kilograms")]]
        for plan_field in product.fields:
            for index, value in enumerate(plan_field.values):
                values.append(
                    [
                        para(plan_field.label, SMALL) if index == 0 else "",
                        para(value.label, SMALL),
                        value.quantity,
                        kilograms(value.kilograms),
                    ]
                )
        heading = para(f"{product.total.name} ({product.total.sku})", HEADING)
        story.append(
            KeepTogether([heading, table(values, [text, 2 * text, *numbers], numbers=[2, 3])])
        )
    return document(page, story)


RENDERERS: dict[str, Callable[[exports.BatchContent], bytes]] = {
    exports.PICK_LIST: pick_list_pdf,
    exports.PACKING_SLIPS: packing_slips_pdf,
    exports.PRODUCTION_PLAN: production_plan_pdf,
}


def export_pdf(content: exports.BatchContent, export: str) -> bytes:
    return RENDERERS[export](content)
