"""The fictitious carrier platform: labels and tracking in development, refused elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pypdfium2
import pytest
import time_machine
import zxingcpp

from carriers import services, tracking
from carriers.models import CarrierAccount, CarrierDelivery, Parcel
from carriers.platforms import platform_for
from carriers.platforms.base import Credentials, PlatformUnavailable
from core.actors import Actor
from core.errors import ConflictError
from crm.models import Product
from fulfillment import services as fulfillment
from fulfillment.models import Shipment
from subscriptions.models import Subscription
from tests.carriers.conftest import carrier_account, prepared_boxes
from tests.factories import AddressFactory, SubscriptionFactory, open_batch

pytestmark = pytest.mark.django_db

CUTOFF = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # labelled (a whole minute)


def demo_account(organization, **fields) -> CarrierAccount:
    return carrier_account(
        organization,
        platform=CarrierAccount.Platform.DEMO,
        public_key="",
        secret_key="",
        shipping_method="demo:standard",
        **fields,
    )


def test_the_demo_platform_labels_each_prepared_box_with_tracking_and_a_label(
    org_a, admin_client_a
):
    account = demo_account(org_a)
    batch, lines = prepared_boxes(org_a, 3)
    lines[2].address = {**lines[2].address, "postcode": ""}
    lines[2].save(update_fields=["address"])

    with time_machine.travel(T0, tick=False):
        report = services.labels_create(batch=batch)

    assert (report.labelled, report.refused) == (2, 1)
    parcels = list(Parcel.objects.filter(batch=batch).order_by("line_id"))
    labelled, refused = parcels[:2], parcels[2]
    assert refused.state == Parcel.State.REFUSED
    assert "postal code" in refused.refusal
    numbers = [parcel.tracking_number for parcel in labelled]
    assert len(set(numbers)) == 2
    assert all(n.startswith("DEMO") for n in numbers)
    for parcel in labelled:
        assert parcel.state == Parcel.State.LABELLED
        assert parcel.account == account
        assert parcel.carrier_status == "announced"
        assert parcel.tracking_url.endswith(f"?q={parcel.tracking_number}")
    # Rerun: nothing is labelled twice.
    assert services.labels_create(batch=batch).labelled == 0

    # The parcel's page says it is fictitious and serves its label: the address, the
    # watermark and the tracking number as a barcode that scans.
    page = admin_client_a.get(f"/admin/carriers/parcel/{labelled[0].pk}/change/")
    assert "fictitious" in page.content.decode()
    response = admin_client_a.get(f"/admin/carriers/parcel/{labelled[0].pk}/label/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    (pdf_page,) = pypdfium2.PdfDocument(response.content)
    text = pdf_page.get_textpage().get_text_range()
    assert "DÉMO — étiquette fictive" in text
    assert lines[0].address["line1"] in text
    assert numbers[0] in text
    image = pdf_page.render(scale=203 / 72).to_pil()
    scanned = [
        code.text for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    ]
    assert scanned == [numbers[0]]
    # No label for a refused box.
    assert admin_client_a.get(f"/admin/carriers/parcel/{refused.pk}/label/").status_code == 404

    # "Print labels" merges the demo's labels like Sendcloud's, and names the refused box.
    document = services.labels_pdf(batch=batch)
    assert (document.labels, document.pages) == (2, 2)
    assert document.unlabelled == [refused.code]
    texts = [p.get_textpage().get_text_range() for p in pypdfium2.PdfDocument(document.pdf)]
    assert [numbers[0] in texts[0], numbers[1] in texts[1]] == [True, True]


def labelled_and_dispatched(organization, account) -> Parcel:
    """One paid box locked, prepared, labelled by the demo platform at T0, dispatched."""
    actor = Actor.system("warehouse")
    cutoff = CUTOFF
    batch = open_batch(organization, cutoff)
    subscription = SubscriptionFactory(
        customer__organization=organization,
        status=Subscription.Status.ACTIVE,
        billing_period="week",
        billing_anchor=cutoff - timedelta(days=1),
        shipping_address=None,
    )
    address = AddressFactory(customer=subscription.customer)
    Subscription.objects.filter(pk=subscription.pk).update(shipping_address=address)
    Product.objects.filter(organization=organization).update(net_weight_grams=250)
    fulfillment.batch_lock(batch=batch, actor=actor, now=cutoff + timedelta(minutes=1))
    for line in batch.lines.all():
        fulfillment.line_prepare(line=line, actor=actor)
    batch.refresh_from_db()
    with time_machine.travel(T0, tick=False):
        assert services.labels_create(batch=batch).labelled == 1
    fulfillment.batch_dispatch(batch=batch, actor=actor, carrier="Démo", now=T0)
    return Parcel.objects.get(batch=batch)


def pull_and_apply(now, monkeypatch, capture) -> list[str]:
    """The periodic pull at `now`, then each stored status applied by the worker's code."""
    sent = []
    monkeypatch.setattr(tracking, "enqueue", sent.append)
    with time_machine.travel(now, tick=False), capture(execute=True):
        tracking.tracking_pull(now=now)
    return [tracking.delivery_apply(delivery_id=pk, now=now) for pk in sent]


def test_demo_tracking_moves_the_shipment_through_the_real_apply_path(
    org_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CARRIER_TRACKING_PULL_AFTER_DAYS = 0
    parcel = labelled_and_dispatched(org_a, demo_account(org_a))
    shipment = Shipment.objects.get(line_id=parcel.line_id)
    capture = django_capture_on_commit_callbacks

    # An hour after its label: still announced (recorded, nothing moves)
    assert pull_and_apply(T0 + timedelta(hours=1), monkeypatch, capture) == ["processed"]
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.CREATED
    # A day after: on its way
    assert pull_and_apply(T0 + timedelta(days=1), monkeypatch, capture) == ["processed"]
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.SHIPPED
    # Three days after: delivered, at the platform's delivery time (two days after the label)
    assert pull_and_apply(T0 + timedelta(days=3), monkeypatch, capture) == ["processed"]
    shipment.refresh_from_db()
    assert (shipment.status, shipment.delivered_at) == (
        Shipment.Status.DELIVERED,
        T0 + timedelta(days=2),
    )
    history = CarrierDelivery.objects.filter(parcel=parcel).order_by("carrier_status_at")
    assert list(history.values_list("meaning", flat=True)) == ["info", "shipped", "delivered"]
    assert set(history.values_list("source", flat=True)) == {"pull"}


def test_the_demo_platform_is_refused_outside_development(
    org_a, settings, admin_client_for, administrator_user_a
):
    account = demo_account(org_a)
    batch, _lines = prepared_boxes(org_a, 1)
    settings.DEBUG = False
    settings.CARRIERS_DEMO_PLATFORM = False

    # The labels service refuses, and labels nothing
    with pytest.raises(ConflictError, match="demo carrier platform is fictitious"):
        services.labels_create(batch=batch)
    with pytest.raises(ConflictError, match="demo carrier platform is fictitious"):
        services.labels_start(batch=batch)
    assert not Parcel.objects.filter(state=Parcel.State.LABELLED).exists()
    with pytest.raises(PlatformUnavailable):
        platform_for("demo", Credentials(public_key="", secret_key=""))
    # The tracking pull asks it nothing (and does not fail)
    assert tracking.tracking_pull() == 0

    # The admin form refuses to save an account on it, with the reason
    client = admin_client_for(administrator_user_a)
    response = client.post(
        f"/admin/carriers/carrieraccount/{account.pk}/change/",
        {
            "organization": org_a.pk,
            "platform": "demo",
            "active": "on",
            "shipping_method": "demo:other",
            "packaging_grams": "100",
            "label_format": "a6",
            "country_methods-TOTAL_FORMS": "0",
            "country_methods-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "demo carrier platform is fictitious" in response.content.decode()
    account.refresh_from_db()
    assert account.shipping_method == "demo:standard"


def test_debug_allows_it_and_the_admin_says_the_account_is_fictitious(
    org_a, settings, admin_client_for, administrator_user_a
):
    settings.DEBUG = True
    settings.CARRIERS_DEMO_PLATFORM = False
    account = demo_account(org_a)

    page = admin_client_for(administrator_user_a).get(
        f"/admin/carriers/carrieraccount/{account.pk}/change/"
    )

    assert page.status_code == 200
    assert "nothing is shipped" in page.content.decode()
    assert str(account).startswith("Demo (fictitious)")
