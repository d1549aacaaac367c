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
from django.urls import reverse

from carriers import selectors, services
from carriers.label_sheets import A4, A6
from carriers.models import CarrierAccount, Parcel
from carriers.platforms.base import CarrierPlatform
from core.errors import ApplicationError, ConflictError
from crm.models import Membership
from tests.carriers.conftest import prepared_boxes
from tests.factories import member

pytestmark = pytest.mark.django_db

Role = Membership.Role
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


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


def test_a_label_that_is_no_readable_pdf_is_named_not_merged(org_a, account_a, sendcloud):
    from tests.carriers.fake_sendcloud import label_document

    batch, lines = labelled_batch(org_a, 2)
    broken = Parcel.objects.get(line=lines[0]).platform_parcel_id

    class HalfBroken(CarrierPlatform):
        def label_pdf(self, parcel_id, *, paper_size="a6"):
            if parcel_id == broken:
                return b"%PDF-1.4 truncated"
            return label_document(lines[1].code)

    document = services.labels_pdf(batch=batch, platform=HalfBroken())

    assert document.unlabelled == [lines[0].code]
    assert pages_text(document.pdf) == [f"LABEL {lines[1].code}"]


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


# --- The back office ----------------------------------------------------------------------


def test_print_labels_from_the_batchs_page(org_a, account_a, sendcloud, admin_client_for):
    batch, lines = labelled_batch(org_a, 3)
    client = admin_client_for(member(org_a, Role.VIEWER))  # printing is reading
    page = client.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
    url = reverse("admin:carriers_parcel_print_labels", args=[batch.pk])
    assert f'href="{url}"' in page.content.decode()
    assert "Print labels" in page.content.decode()

    response = client.get(url, **EN)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "Content-Security-Policy" not in response
    assert response["Content-Disposition"].startswith("inline;")
    assert pages_text(response.content) == [f"LABEL {line.code}" for line in lines]


def test_boxes_without_a_label_are_named_before_printing_the_others(
    org_a, account_a, sendcloud, admin_client_for
):
    batch, lines = prepared_boxes(org_a, 3)
    sendcloud.refuse[lines[1].address["postcode"]] = "House number is missing."
    services.labels_create(batch=batch)
    client = admin_client_for(member(org_a, Role.STAFF))
    url = reverse("admin:carriers_parcel_print_labels", args=[batch.pk])

    page = client.get(url, **EN)

    assert page["Content-Type"].startswith("text/html")
    text = page.content.decode()
    assert "1 box has no label and will not be in the file:" in text
    line_url = reverse("admin:fulfillment_batchline_change", args=[lines[1].pk])
    assert f'<a href="{line_url}">{lines[1].code}</a>' in text
    assert "Print the 2 labels" in text
    response = client.get(url, {"confirmed": "1"}, **EN)
    assert response["Content-Type"] == "application/pdf"
    assert pages_text(response.content) == [f"LABEL {lines[0].code}", f"LABEL {lines[2].code}"]


def test_a_label_the_platform_lost_is_named_in_a_message(
    org_a, account_a, sendcloud, admin_client_for
):
    batch, lines = labelled_batch(org_a, 2)
    sendcloud.no_label.add(Parcel.objects.get(line=lines[0]).platform_parcel_id)
    client = admin_client_for(member(org_a, Role.STAFF))

    response = client.get(reverse("admin:carriers_parcel_print_labels", args=[batch.pk]), **EN)

    assert pages_text(response.content) == [f"LABEL {lines[1].code}"]
    page = client.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
    assert (
        f"Not in the labels file, the carrier platform has no label for: {lines[0].code}"
        in page.content.decode()
    )


def test_another_organizations_batch_labels_are_not_found(
    org_a, org_b, account_a, sendcloud, admin_client_for
):
    batch, _lines = labelled_batch(org_a, 1)
    client = admin_client_for(member(org_b, Role.ADMIN))

    response = client.get(reverse("admin:carriers_parcel_print_labels", args=[batch.pk]), **EN)

    assert response.status_code == 404
    assert sendcloud.label_fetches == []


def test_print_the_labels_of_a_selection_of_boxes(org_a, account_a, sendcloud, admin_client_for):
    _batch, lines = labelled_batch(org_a, 4)
    client = admin_client_for(member(org_a, Role.STAFF))
    selected = [lines[3].pk, lines[0].pk]

    response = client.post(
        reverse("admin:fulfillment_batchline_changelist"),
        {"action": "print_labels", "_selected_action": selected},
        **EN,
    )

    assert response.status_code == 302
    pdf = client.get(response.url, **EN)
    assert pages_text(pdf.content) == [f"LABEL {lines[0].code}", f"LABEL {lines[3].code}"]


def test_a_selection_across_batches_is_refused(org_a, account_a, sendcloud, admin_client_for):
    batch, lines = labelled_batch(org_a, 1)
    _other, other_lines = prepared_boxes(org_a, 1, cutoff=batch.cutoff_at.replace(day=9))
    client = admin_client_for(member(org_a, Role.STAFF))

    response = client.post(
        reverse("admin:fulfillment_batchline_changelist"),
        {"action": "print_labels", "_selected_action": [lines[0].pk, other_lines[0].pk]},
        follow=True,
        **EN,
    )

    assert "Select boxes of one batch to print their labels." in response.content.decode()
    assert sendcloud.label_fetches == []


# --- The API ------------------------------------------------------------------------------


def test_the_api_answers_the_merged_labels(org_a, account_a, sendcloud, api_client_for):
    CarrierAccount.objects.filter(pk=account_a.pk).update(label_format="a4")
    batch, lines = prepared_boxes(org_a, 5)
    sendcloud.refuse[lines[2].address["postcode"]] = "House number is missing."
    services.labels_create(batch=batch)
    client = api_client_for(org_a)

    response = client.get(f"/api/v1/batches/{batch.pk}/labels.pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Unlabelled-Boxes"] == lines[2].code
    codes = [f"LABEL {line.code}" for n, line in enumerate(lines) if n != 2]
    assert quadrant_text(response.content, 0) == codes
    selection = client.get(
        f"/api/v1/batches/{batch.pk}/labels.pdf", {"lines": [lines[4].pk, lines[0].pk]}
    )
    assert quadrant_text(selection.content, 0) == [codes[0], codes[3], "", ""]
    assert selection["Unlabelled-Boxes"] == ""


def test_the_api_labels_errors_are_json(org_a, org_b, account_a, sendcloud, api_client_for):
    batch, lines = prepared_boxes(org_a, 2)
    client = api_client_for(org_a)
    url = f"/api/v1/batches/{batch.pk}/labels.pdf"

    none_yet = client.get(url, HTTP_ACCEPT="application/pdf")
    invalid = client.get(url, {"lines": "abc"})
    theirs = api_client_for(org_b).get(url)

    assert none_yet.status_code == 409
    assert none_yet.json()["extra"] == {"unlabelled": [line.code for line in lines]}
    assert invalid.status_code == 400
    assert "lines" in invalid.json()["extra"]["fields"]
    assert theirs.status_code == 404
    assert theirs.json()["message"]
    assert sendcloud.label_fetches == []


# --- The client -------------------------------------------------------------------------


def test_the_client_asks_the_parcels_label_from_the_platforms_own_address(sendcloud):
    from carriers.platforms.base import Credentials, LabelMissing, PlatformUnavailable
    from carriers.platforms.sendcloud import SendcloudPlatform

    sendcloud.shipments["ref-1"] = {
        "order_number": "12",
        "parcels": [{"id": 42, "documents": [{"type": "label"}]}],
    }
    client = SendcloudPlatform(Credentials(public_key="pk-test", secret_key="sk-test"))

    pdf = client.label_pdf("42")

    assert pages_text(pdf) == ["LABEL 12"]
    sent = sendcloud.mock.calls[-1].request
    assert sent.url == (
        "https://panel.sendcloud.sc/api/v3/parcels/42/documents/label?paper_size=A6&dpi=72"
    )
    assert sent.headers["Accept"] == "application/pdf"
    with pytest.raises(LabelMissing):
        client.label_pdf("43")
    wrong_keys = SendcloudPlatform(Credentials(public_key="pk-test", secret_key="nope"))
    with pytest.raises(PlatformUnavailable):
        wrong_keys.label_pdf("42")


def test_a_label_that_is_no_pdf_is_the_platforms_failure():
    import responses

    from carriers.platforms.base import Credentials, PlatformUnavailable
    from carriers.platforms.sendcloud import SendcloudPlatform

    client = SendcloudPlatform(Credentials(public_key="pk-test", secret_key="sk-test"))
    with responses.RequestsMock() as platform:
        platform.get(
            "https://panel.sendcloud.sc/api/v3/parcels/7/documents/label",
            body="<html>maintenance</html>",
        )
        with pytest.raises(PlatformUnavailable):
            client.label_pdf("7")
