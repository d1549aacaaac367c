"""After-sales cases about a box holding two sizes of one coffee: the items name the variant,
and a replacement box ships the variant returned, not the product's other size."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.actors import Actor
from returns import services
from returns.models import ReturnReason, ReturnRequest
from tests.factories import (
    MembershipFactory,
    ProductFactory,
    VariantFactory,
    billing_settings,
    delivered_boxes,
)

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def box(org_a):
    """A delivered box of 1 x Espresso Blend 250 g and 2 x Espresso Blend 1 kg."""
    billing_settings(org_a, gateway="test")
    espresso = ProductFactory(organization=org_a, sku="ESP", name="Espresso Blend")
    small = VariantFactory(
        product=espresso, sku="ESP-250", attributes=[{"name": "Weight", "option": "250 g"}]
    )
    large = VariantFactory(
        product=espresso, sku="ESP-1KG", attributes=[{"name": "Weight", "option": "1 kg"}]
    )
    shipment = delivered_boxes(
        org_a, delivered_at=timezone.now() - timedelta(days=2), items=[(small, 1), (large, 2)]
    )[0]
    services.return_config_ensure(organization=org_a)
    return shipment, espresso, small, large


def test_a_case_about_one_size_is_replaced_by_that_size(org_a, box, api_client_for):
    shipment, espresso, _small, large = box
    client = api_client_for(org_a)

    opened = client.post(
        "/api/v1/returns/",
        {
            "shipment": shipment.pk,
            "reason": "damaged",
            "items": [{"variant": large.pk, "quantity": 1}],
        },
        format="json",
    )
    case = ReturnRequest.objects.get()
    actor = Actor.system("after-sales")
    services.return_approve(case=case, actor=actor)
    services.return_resolve(case=case, actor=actor, resolution="replacement")
    case.refresh_from_db()

    assert opened.status_code == 201
    assert [(i["variant"], i["sku"], i["name"], i["quantity"]) for i in opened.json()["items"]] == [
        (large.pk, "ESP-1KG", "Espresso Blend - 1 kg", 1)
    ]
    assert [
        (i["product"], i["variant"], i["sku"], i["quantity"]) for i in case.replacement_line.items
    ] == [(espresso.pk, large.pk, "ESP-1KG", 1)]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            lambda espresso, large, foreign: {"product": espresso.pk},
            "The box held several variants of product",
        ),
        (lambda espresso, large, foreign: {"variant": foreign.pk}, "was not in this box."),
        (
            lambda espresso, large, foreign: {"variant": large.pk, "quantity": 3},
            "The box held 2 of Espresso Blend - 1 kg, not 3.",
        ),
    ],
)
def test_an_item_the_box_did_not_hold_is_refused(org_a, org_b, box, api_client_for, item, message):
    shipment, espresso, _small, large = box
    foreign = VariantFactory(product=ProductFactory(organization=org_b), sku="ESP-1KG")

    response = api_client_for(org_a).post(
        "/api/v1/returns/",
        {"shipment": shipment.pk, "reason": "damaged", "items": [item(espresso, large, foreign)]},
        format="json",
    )

    assert response.status_code == 400
    assert message in str(response.json()["extra"]["fields"]["items"])
    assert not ReturnRequest.objects.exists()


def test_staff_name_a_variant_by_its_sku_on_the_add_form(org_a, box, admin_client_for):
    shipment, _espresso, small, _large = box
    staff = MembershipFactory(organization=org_a, role="staff").user
    reason = ReturnReason.objects.get(organization=org_a, code="damaged")

    form = admin_client_for(staff).get(
        "/admin/returns/returnrequest/add/", {"shipment": shipment.pk}, **EN
    )
    response = admin_client_for(staff).post(
        "/admin/returns/returnrequest/add/",
        {"shipment": shipment.pk, "reason": reason.pk, "items": "esp-250 1"},
        **EN,
    )

    assert response.status_code == 302
    help_text = form.context["adminform"].form.fields["shipment"].help_text
    assert "1 x Espresso Blend - 250 g (ESP-250), 2 x Espresso Blend - 1 kg (ESP-1KG)" in help_text
    (case,) = ReturnRequest.objects.all()
    assert [(i["variant"], i["quantity"]) for i in case.items] == [(small.pk, 1)]
