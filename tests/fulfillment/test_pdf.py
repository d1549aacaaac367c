"""The packing room's exports as PDF: they open, speak the staff's language, and the packing
slips' barcodes scan back to their lines (rasterized with pypdfium2, decoded with zxing-cpp).

The batch is `tests.fulfillment.test_exports.Roastery`'s: Alice and Bob's boxes, locked at
the cut-off of Wednesday 2 December 2026.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pypdfium2
import pytest
import time_machine
import zxingcpp
from django.utils import translation

from fulfillment import exports, pdf
from fulfillment.models import BatchLine, line_code
from fulfillment.services import lock_due_batches
from subscriptions import renewals
from tests.fulfillment.test_exports import (
    CUTOFF,
    EN,
    FR,
    TIMES,
    Roastery,
    populate,
    queries_of,
    url,
)
from tests.fulfillment.test_variants import EspressoShop

pytestmark = pytest.mark.django_db

PDF_KINDS = ["pick-list.pdf", "packing-slips.pdf", "production-plan.pdf"]


@pytest.fixture
def roastery(org_a):
    shop = Roastery(org_a)
    shop.lock()
    return shop


@pytest.fixture
def client(admin_client_for, staff_user_a):
    return admin_client_for(staff_user_a)


def pages_of(response) -> list[pypdfium2.PdfPage]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return list(pypdfium2.PdfDocument(response.content))


def text_of(page: pypdfium2.PdfPage) -> str:
    return page.get_textpage().get_text_range()


def barcodes_of(page: pypdfium2.PdfPage) -> list[str]:
    """The Code128 barcodes a scanner reads on the page, printed at 150 dpi."""
    image = page.render(scale=150 / 72).to_pil()
    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    ]


# --- Packing slips ---------------------------------------------------------------------------


def test_each_slip_is_a_page_whose_barcode_decodes_to_its_lines_code(roastery, client):
    codes = sorted((line.code for line in roastery.lines.values()), key=lambda code: int(code[:-1]))

    response = client.get(url(roastery.batch, "packing-slips.pdf"), **EN)

    pages = pages_of(response)
    assert len(pages) == 2
    assert [barcodes_of(page) for page in pages] == [[code] for code in codes]
    assert response["Content-Disposition"] == (
        'inline; filename="batch-2026-12-02-packing-slips.pdf"'
    )
    # Shown by the browser's viewer (which the site's policy would block), never sniffed.
    assert "Content-Security-Policy" not in response.headers
    assert response["X-Content-Type-Options"] == "nosniff"
    alice_page = text_of(pages[codes.index(roastery.code(roastery.alice))])
    assert "Alice Martin" in alice_page
    assert "3 rue Mercière" in alice_page
    assert "Ethiopia Guji" in alice_page
    assert "Ring twice" in alice_page  # her note
    # Bob's address as it stood at the cut-off, not as he changed it after.
    bob_page = text_of(pages[codes.index(roastery.code(roastery.bob))])
    assert "8 quai Rambaud" in bob_page
    assert "99 avenue Nouvelle" not in bob_page
    for page in pages:  # who, which batch, on every page
        assert "Batch of Dec. 2, 2026" in text_of(page)
        assert roastery.org.name in text_of(page)


def test_scanning_a_decoded_barcode_marks_its_box_prepared(roastery, client):
    # Given the boxes are paid (ready to prepare)
    BatchLine.objects.filter(batch=roastery.batch).update(status=BatchLine.Status.READY)
    pages = pages_of(client.get(url(roastery.batch, "packing-slips.pdf"), **EN))

    # When the packing room scans the first slip
    (scanned,) = barcodes_of(pages[0])
    response = client.post(
        f"/admin/fulfillment/batch/{roastery.batch.pk}/scan/", {"code": scanned}, **EN
    )

    # Then its box, and only its box, is prepared
    assert response.status_code == 302
    statuses = dict(BatchLine.objects.filter(batch=roastery.batch).values_list("pk", "status"))
    first = int(scanned[:-1])
    assert statuses == {
        pk: BatchLine.Status.PREPARED if pk == first else BatchLine.Status.READY for pk in statuses
    }


def test_the_printable_page_links_its_pdf(roastery, client):
    page = client.get(url(roastery.batch, "pick-list.html"), **EN).text

    assert f'href="{url(roastery.batch, "pick-list.pdf")}"' in page


def test_the_pdfs_speak_the_staff_members_language(roastery, client):
    slips = pages_of(client.get(url(roastery.batch, "packing-slips.pdf"), **FR))
    pick_list = pages_of(client.get(url(roastery.batch, "pick-list.pdf"), **FR))
    plan = pages_of(client.get(url(roastery.batch, "production-plan.pdf"), **FR))

    slip = text_of(slips[0])
    assert "Bordereaux de colis" in slip
    assert "Livrer à" in slip
    assert "Dans le colis" in slip
    assert "Lot du 2 décembre 2026" in slip
    picking = text_of(pick_list[0])
    assert "Liste de préparation" in picking
    assert "Mouture" in picking
    assert "Expresso" in picking
    assert "Kilos" in text_of(plan[0])
    assert "Expresso" in text_of(plan[0])


def test_the_pick_list_and_plan_pdfs_show_the_products_and_totals(roastery, client):
    pick_list = "".join(
        map(text_of, pages_of(client.get(url(roastery.batch, "pick-list.pdf"), **EN)))
    )
    plan = "".join(
        map(text_of, pages_of(client.get(url(roastery.batch, "production-plan.pdf"), **EN)))
    )

    assert "2 boxes · 4 items to pick" in pick_list
    assert pick_list.index("Brazil Cerrado") < pick_list.index("Ethiopia Guji")
    assert "Total Ethiopia Guji" in pick_list
    assert roastery.code(roastery.alice) in pick_list
    assert "ETH-GUJI" in plan
    assert "SKU" in plan  # the column's name as written, not "Sku"
    assert "0.750" in plan  # three 250 g bags of Guji


def test_the_pdfs_list_each_variant_of_a_coffee(org_a, client):
    shop = EspressoShop(org_a)
    line = shop.lock()

    plan = "".join(map(text_of, pages_of(client.get(url(shop.batch, "production-plan.pdf"), **EN))))
    pick_list = "".join(map(text_of, pages_of(client.get(url(shop.batch, "pick-list.pdf"), **EN))))
    (slip,) = pages_of(client.get(url(shop.batch, "packing-slips.pdf"), **EN))

    # The coffee's total, then each size: one 250 g bag and two 1 kg bags.
    assert "2.250" in plan
    assert plan.index("Espresso Blend - 1 kg") < plan.index("Espresso Blend - 250 g")
    assert plan.index("2.000") < plan.index("0.250")
    assert "Espresso Blend - 1 kg (ESP-1KG)" in pick_list
    assert "Total Espresso Blend - 250 g" in pick_list
    assert barcodes_of(slip) == [line.code]
    assert "ESP-1KG" in text_of(slip)
    assert "ESP-250" in text_of(slip)


def test_an_open_batchs_slips_say_preview_and_have_no_barcode(org_a, client):
    shop = Roastery(org_a)
    shop.prepare_before_cutoff()

    with time_machine.travel(CUTOFF - timedelta(hours=1), tick=False):
        response = client.get(url(shop.batch, "packing-slips.pdf"), **EN)

    pages = pages_of(response)
    assert len(pages) == 2
    assert "preview" in response["Content-Disposition"]
    for page in pages:
        assert "Preview: the batch is still open until" in text_of(page)
        assert "Preview: no code until the batch is locked" in text_of(page)
        assert barcodes_of(page) == []


def test_an_empty_batch_prints_one_page_that_says_so(org_a, client):
    batch = populate(org_a, 0)

    for kind, empty in (
        ("packing-slips.pdf", "No box in this batch."),
        ("pick-list.pdf", "Nothing to pick in this batch."),
        ("production-plan.pdf", "Nothing to produce in this batch."),
    ):
        pages = pages_of(client.get(url(batch, kind), **EN))
        assert len(pages) == 1
        assert empty in text_of(pages[0])


def test_a_letter_the_standard_fonts_lack_prints_without_its_accent():
    assert pdf.printable("Dąbrowska, 3 rue Mercière") == "Dabrowska, 3 rue Mercière"
    french = f"Cœur · 2 {TIMES} 250 g — 12 €"  # all in Windows-1252: unchanged
    assert pdf.printable(french) == french


# --- Bounded queries and time ----------------------------------------------------------------


def test_the_pdfs_read_the_same_queries_for_1_and_50_boxes(
    org_a, org_b, staff_user_a, staff_user_b, admin_client_for, django_assert_max_num_queries
):
    small, large = populate(org_a, 1), populate(org_b, 50)
    with time_machine.travel(CUTOFF - timedelta(days=1), tick=False):
        renewals.run()
    with time_machine.travel(CUTOFF + timedelta(minutes=1), tick=False):
        lock_due_batches()
    assert BatchLine.objects.filter(batch=large).count() == 50
    small_client, large_client = admin_client_for(staff_user_a), admin_client_for(staff_user_b)

    for kind in PDF_KINDS:
        allowed = queries_of(small_client, small, kind)
        with django_assert_max_num_queries(allowed):
            response = large_client.get(url(large, kind), **EN)
        if kind == "packing-slips.pdf":
            assert len(pages_of(response)) == 50


def parcel(line_id: int, items: int = 1) -> exports.Parcel:
    """A box of a locked batch, built in memory (no query): `items` products in it."""
    return exports.Parcel(
        subscription_id=line_id,
        customer_id=line_id,
        customer_name=f"Customer {line_id}",
        status=BatchLine.Status.READY,
        status_label="Ready",
        line_id=line_id,
        address={
            "name": f"Customer {line_id}",
            "line1": "3 rue Mercière",
            "city": "Lyon",
            "postcode": "69002",
            "country": "FR",
        },
        items=[
            {"product": n, "sku": f"SKU-{n}", "name": f"Coffee {n}", "quantity": 2}
            for n in range(1, items + 1)
        ],
        preferences={},
    )


def test_500_slips_render_in_a_few_seconds(org_a):
    batch = populate(org_a, 0)
    with translation.override("en"):
        content = exports.batch_content(batch=batch)
        content.parcels = [parcel(line_id) for line_id in range(1, 501)]
        started = time.perf_counter()
        data = pdf.packing_slips_pdf(content)
        elapsed = time.perf_counter() - started

    assert len(pypdfium2.PdfDocument(data)) == 500
    # About 2 s with reportlab's accelerator (rl-accel); the margin is for a busy machine.
    assert elapsed < 10, f"500 slips took {elapsed:.1f} s"


def test_a_box_too_long_for_a_page_is_shrunk_onto_its_page_and_still_scans(org_a):
    batch = populate(org_a, 0)
    with translation.override("en"):
        content = exports.batch_content(batch=batch)
        content.parcels = [parcel(41, items=120), parcel(42)]
        data = pdf.packing_slips_pdf(content)

    pages = list(pypdfium2.PdfDocument(data))
    assert len(pages) == 2
    assert barcodes_of(pages[0]) == [line_code(41)]
    assert "Coffee 120" in text_of(pages[0])
    assert barcodes_of(pages[1]) == [line_code(42)]
