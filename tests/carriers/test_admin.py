"""The carriers in the back office: the account's keys never rendered back and kept for
administrators; "Create labels" on a locked batch; a refused box corrected."""

from __future__ import annotations

import pytest
from django.urls import reverse

from carriers import services
from carriers.models import CarrierAccount, Parcel
from carriers.tasks import create_labels
from crm.models import Membership
from fulfillment.models import BatchLine
from operations.models import Operation
from tests.carriers.conftest import carrier_account, prepared_boxes
from tests.factories import member

pytestmark = pytest.mark.django_db

Role = Membership.Role
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def account_form(organization, **fields):
    data = {
        "organization": organization.pk,
        "platform": "sendcloud",
        "active": "on",
        "public_key": "",
        "secret_key": "",
        "shipping_method": "colissimo:home",
        "sender_address_id": "",
        "packaging_grams": "120",
        "label_format": "a4",
        "country_methods-TOTAL_FORMS": "0",
        "country_methods-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


def test_an_administrator_sets_the_keys_which_are_never_shown_again(org_a, admin_client_for):
    client = admin_client_for(member(org_a, Role.ADMIN))
    add = reverse("admin:carriers_carrieraccount_add")
    response = client.post(add, account_form(org_a, public_key="pk-1", secret_key="sk-secret"))
    assert response.status_code == 302, response.content.decode()[:3000]
    account = CarrierAccount.objects.get()
    assert (account.public_key, account.secret_key, account.label_format) == (
        "pk-1",
        "sk-secret",
        "a4",
    )
    change = reverse("admin:carriers_carrieraccount_change", args=[account.pk])
    page = client.get(change, **EN).content.decode()
    assert "sk-secret" not in page
    assert "pk-1" not in page
    assert "Currently set" in page

    client.post(change, account_form(org_a, shipping_method="colissimo:signature"))
    account.refresh_from_db()
    assert (account.secret_key, account.shipping_method) == ("sk-secret", "colissimo:signature")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_key FROM carriers_carrieraccount")
        assert cursor.fetchone()[0].startswith("fernet:")


def test_staff_read_the_account_but_neither_its_keys_nor_change_it(org_a, admin_client_for):
    account = carrier_account(org_a)
    client = admin_client_for(member(org_a, Role.STAFF))
    change = reverse("admin:carriers_carrieraccount_change", args=[account.pk])
    page = client.get(change, **EN)
    assert page.status_code == 200
    assert "sk-test" not in page.content.decode()
    client.post(change, account_form(org_a, shipping_method="hacked"))
    account.refresh_from_db()
    assert account.shipping_method == "colissimo:home"
    assert client.get(reverse("admin:carriers_carrieraccount_add")).status_code == 403


def test_create_labels_from_the_locked_batchs_page(
    org_a, account_a, sendcloud, admin_client_for, django_capture_on_commit_callbacks, monkeypatch
):
    batch, lines = prepared_boxes(org_a, 3)
    sendcloud.refuse[lines[0].address["postcode"]] = "House number is missing."
    client = admin_client_for(member(org_a, Role.STAFF))
    page = client.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
    url = reverse("admin:carriers_parcel_create_labels", args=[batch.pk])
    assert f'href="{url}"' in page.content.decode()
    assert client.get(url, **EN).status_code == 200  # the confirmation
    sent = []
    monkeypatch.setattr(
        create_labels, "apply_async", lambda args, kwargs: sent.append((args, kwargs))
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, **EN)

    operation = Operation.objects.get()
    assert response.url == reverse("admin:operations_operation_change", args=[operation.pk])
    [(args, kwargs)] = sent
    create_labels(*args, **kwargs)
    page = client.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
    assert "Refused by the carrier (1)" in page.content.decode()
    refused = client.get(
        reverse("admin:carriers_parcel_changelist"),
        {"batch__id__exact": batch.pk, "state__exact": "refused"},
        **EN,
    ).content.decode()
    assert "House number is missing." in refused
    assert f">{lines[0].code}</a>" in refused
    assert f">{lines[1].code}</a>" not in refused
    line_page = client.get(
        reverse("admin:fulfillment_batchline_change", args=[lines[0].pk]), **EN
    ).content.decode()
    assert "Refused by the carrier: to_address/house_number: House number is missing." in line_page
    labelled_page = client.get(
        reverse("admin:fulfillment_batchline_change", args=[lines[1].pk]), **EN
    ).content.decode()
    assert "Label: 3SYZXG" in labelled_page


def test_a_refused_box_corrected_in_the_admin_is_labelled_by_the_next_run(
    org_a, account_a, sendcloud, admin_client_for
):
    batch, lines = prepared_boxes(org_a, 2)
    sendcloud.refuse[lines[0].address["postcode"]] = "House number is missing."
    services.labels_create(batch=batch)
    parcel = Parcel.objects.get(state="refused")
    client = admin_client_for(member(org_a, Role.STAFF))
    url = reverse("admin:carriers_parcel_address", args=[parcel.pk])
    assert "House number is missing." in client.get(url, **EN).content.decode()

    response = client.post(
        url,
        {**lines[0].address, "line1": "4 bis rue des Lilas", "postcode": "75999"},
        **EN,
    )

    assert response.status_code == 302
    assert BatchLine.objects.get(pk=lines[0].pk).address["line1"] == "4 bis rue des Lilas"
    services.labels_create(batch=batch)
    assert Parcel.objects.get(pk=parcel.pk).state == "labelled"


def test_viewers_and_other_organizations_cannot_create_labels(
    org_a, org_b, account_a, admin_client_for
):
    batch, _lines = prepared_boxes(org_a, 1)
    url = reverse("admin:carriers_parcel_create_labels", args=[batch.pk])
    viewer = admin_client_for(member(org_a, Role.VIEWER))
    page = viewer.get(reverse("admin:fulfillment_batch_change", args=[batch.pk]), **EN)
    assert url not in page.content.decode()
    assert viewer.post(url).status_code == 403
    assert admin_client_for(member(org_b, Role.ADMIN)).post(url).status_code == 404
    assert not Operation.objects.exists()
