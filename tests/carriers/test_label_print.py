"""Printing a batch's labels: one merged PDF, in the organization's label format.

The platform is faked at the HTTP boundary (tests/carriers/fake_sendcloud.py): each label it
sends is an A6 page reading "LABEL <line code>", which the tests read back from the merged
file to know which label went where.
"""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carriers import selectors, services
from carriers.label_sheets import A4, A6
from carriers.models import CarrierAccount, Parcel
from carriers.platforms.base import CarrierPlatform
from core.errors import ApplicationError, ConflictError
from tests.carriers.conftest import prepared_boxes

pytestmark = pytest.mark.django_db


def labelled_batch(organization, count: int):
    batch, lines = prepared_boxes(organization, count)
    services.labels_create(batch=batch)
    return batch, lines


def pages_text(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_bounded() for i in range(len(document))]
    finally:
        document.close()


def quadrant_text(pdf: bytes, page: int) -> list[str]:
    """The text of each quarter of an A4 page, in reading order."""
    document = pdfium.PdfDocument(pdf)
    try:
        textpage = document[page].get_textpage()
        width, height = A4
        half_w, half_h = width / 2, height / 2
        cells = [(0, half_h), (half_w, half_h), (0, 0), (half_w, 0)]
        return [
            textpage.get_text_bounded(left=x, bottom=y, right=x + half_w, top=y + half_h).strip()
            for x, y in cells
        ]
    finally:
        document.close()


def page_size(pdf: bytes, page: int = 0) -> tuple[float, float]:
    document = pdfium.PdfDocument(pdf)
    try:
        return document[page].get_size()
    finally:
        document.close()


def test_a6_one_label_per_page_in_the_boxes_order(org_a, account_a, sendcloud):
    batch, lines = labelled_batch(org_a, 5)

    document = services.labels_pdf(batch=batch)

    assert document.pages == 5
    assert document.labels == 5
    assert document.unlabelled == []
    assert pages_text(document.pdf) == [f"LABEL {line.code}" for line in lines]
    assert page_size(document.pdf) == pytest.approx(A6, abs=0.5)
    assert document.filename == f"batch-{batch.cycle_date.isoformat()}-labels.pdf"
    # Asked from the platform's address for the parcel, as an A6 PDF.
    assert len(sendcloud.label_fetches) == 5


def test_a4_imposes_four_labels_on_a_page(org_a, account_a, sendcloud):
    CarrierAccount.objects.filter(pk=account_a.pk).update(label_format="a4")
    batch, lines = labelled_batch(org_a, 9)

    document = services.labels_pdf(batch=batch)

    assert document.pages == 3  # 4 + 4 + 1
    assert page_size(document.pdf) == pytest.approx(A4, abs=0.5)
    codes = [f"LABEL {line.code}" for line in lines]
    assert quadrant_text(document.pdf, 0) == codes[0:4]
    assert quadrant_text(document.pdf, 1) == codes[4:8]
    assert quadrant_text(document.pdf, 2) == [codes[8], "", "", ""]


def test_a_selection_prints_only_its_boxes(org_a, account_a, sendcloud):
    batch, lines = labelled_batch(org_a, 6)

    document = services.labels_pdf(batch=batch, line_ids=[lines[4].pk, lines[1].pk])

    assert pages_text(document.pdf) == [f"LABEL {lines[1].code}", f"LABEL {lines[4].code}"]


def test_a_box_without_a_label_is_named_not_dropped_silently(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 4)
    sendcloud.refuse[lines[2].address["postcode"]] = "House number is missing."
    services.labels_create(batch=batch)
    # And one whose label the platform no longer has.
    withdrawn = Parcel.objects.get(line=lines[0])
    sendcloud.no_label.add(withdrawn.platform_parcel_id)

    document = services.labels_pdf(batch=batch)

    assert document.labels == 2
    assert document.unlabelled == [lines[0].code, lines[2].code]
    assert pages_text(document.pdf) == [f"LABEL {lines[1].code}", f"LABEL {lines[3].code}"]


def test_no_label_at_all_is_a_conflict(org_a, account_a, sendcloud):
    batch, lines = prepared_boxes(org_a, 2)

    with pytest.raises(ConflictError) as error:
        services.labels_pdf(batch=batch)

    assert error.value.extra == {"unlabelled": [line.code for line in lines]}
    assert sendcloud.label_fetches == []


def test_the_platform_down_is_a_503_not_a_partial_file(org_a, account_a, sendcloud):
    batch, _lines = labelled_batch(org_a, 2)

    class Down(CarrierPlatform):
        def label_pdf(self, parcel_id, *, paper_size="a6"):
            from carriers.platforms.base import PlatformUnavailable

            raise PlatformUnavailable("Sendcloud answered HTTP 503: try again later.")

    with pytest.raises(ApplicationError) as error:
        services.labels_pdf(batch=batch, platform=Down())

    assert error.value.status == 503


def test_another_organizations_lines_are_not_printed(org_a, org_b, account_a, sendcloud):
    batch, _lines = labelled_batch(org_a, 2)
    other_batch, other_lines = prepared_boxes(org_b, 1)

    found = selectors.batch_labels(batch=batch, line_ids=[other_lines[0].pk])

    assert found.parcels == []
    assert found.unlabelled == []
    assert other_batch.organization_id != batch.organization_id


def test_the_labels_selector_reads_in_one_query_whatever_the_boxes(org_a, account_a, sendcloud):
    small, _ = labelled_batch(org_a, 2)
    with CaptureQueriesContext(connection) as few:
        assert len(selectors.batch_labels(batch=small).parcels) == 2
    large, _ = prepared_boxes(org_a, 30, cutoff=small.cutoff_at.replace(day=9))
    services.labels_create(batch=large)
    with CaptureQueriesContext(connection) as many:
        assert len(selectors.batch_labels(batch=large).parcels) == 30

    assert len(few.captured_queries) == len(many.captured_queries) == 1
