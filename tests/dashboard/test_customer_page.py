"""A customer's whole story on one page: each figure the size of the list it links to."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.urls import reverse

from core.actors import Actor
from crm.models import Membership
from returns.services import return_config_ensure, return_open
from subscriptions.models import Charge
from tests.factories import (
    AddressFactory,
    ChargeFactory,
    CustomerFactory,
    ProductFactory,
    SubscriptionFactory,
    answered_surveys,
    billing_settings,
    delivered_boxes,
    member,
)

pytestmark = pytest.mark.django_db

#: Tuesday 17 November 2026, 10:00 in Paris.
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
SECTION_LINK = re.compile(r'<h2><a href="(?P<href>[^"]+)">[^<]+</a> \((?P<count>\d+)\)</h2>')


def page_url(customer):
    return reverse("admin:customer_story", args=[customer.pk])


@pytest.fixture
def lea(org_a):
    """A customer with four subscriptions, a failed charge, three delivered boxes, a case
    and an answer."""
    from fulfillment.models import FulfillmentSettings

    billing_settings(org_a, gateway="test")
    FulfillmentSettings.objects.get_or_create(organization=org_a)
    return_config_ensure(organization=org_a)
    customer = CustomerFactory(organization=org_a, email="lea@example.com", first_name="Léa")
    AddressFactory(customer=customer, city="Lyon")
    coffee = ProductFactory(organization=org_a, name="Espresso", unit_price=Decimal("12.00"))
    # Her first box, three weeks ago, was answered (9/10).
    answered_surveys(org_a, [9], answered_at=NOW - timedelta(days=16), customer=customer)
    with time_machine.travel(NOW, tick=False):
        shipments = delivered_boxes(
            org_a,
            delivered_at=NOW - timedelta(days=2),
            items=[(coffee, 1)],
            customer=customer,
            count=2,
        )
        return_open(
            organization=org_a,
            shipment=shipments[0],
            reason="damaged",
            actor=Actor.system(),
        )
    failing = SubscriptionFactory(customer=customer, status="past_due", items=[(coffee, 2)])
    ChargeFactory(
        subscription=failing, cycle=1, status=Charge.Status.FAILED, amount=Decimal("24.00")
    )
    return customer


def test_every_section_counts_what_its_list_shows(lea, org_a, admin_client_for):
    staff = member(org_a, Membership.Role.STAFF)
    client = admin_client_for(staff)

    with time_machine.travel(NOW, tick=False):
        page = client.get(page_url(lea), HTTP_ACCEPT_LANGUAGE="fr")

    assert page.status_code == 200
    text = unescape(page.text)
    sections = SECTION_LINK.findall(text)
    assert len(sections) == 5  # subscriptions, charges, boxes, cases, answers
    for href, count in sections:
        listed = client.get(href)
        assert listed.status_code == 200, href
        assert listed.context_data["cl"].result_count == int(count), href
    assert [int(count) for _href, count in sections][2:] == [3, 1, 1]
    # What she owes is her failed charge; her page says so in French.
    assert "24,00 EUR" in text
    assert "Valeur vie client" in text
    assert "Lyon" in text


def test_the_page_costs_the_same_queries_for_one_subscription_or_fifty(
    org_a, admin_client_for, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer = CustomerFactory(organization=org_a)
    product = ProductFactory(organization=org_a)
    SubscriptionFactory(customer=customer, status="active", items=[(product, 1)])
    client = admin_client_for(member(org_a, Membership.Role.STAFF))
    client.get(page_url(customer))  # the session's language and time zone
    with CaptureQueriesContext(connection) as one:
        assert client.get(page_url(customer)).status_code == 200

    for _ in range(49):
        SubscriptionFactory(customer=customer, status="active", items=[(product, 2)])
    with django_assert_num_queries(len(one.captured_queries)):
        page = client.get(page_url(customer))
    assert page.text.count("/admin/subscriptions/subscription/") >= 50


def test_another_organizations_customer_is_not_found(lea, org_b, admin_client_for):
    theirs = member(org_b, Membership.Role.ADMIN)

    response = admin_client_for(theirs).get(page_url(lea))

    assert response.status_code == 404
    assert "lea@example.com" not in response.text


def test_the_customer_list_and_page_link_to_the_whole_story(lea, org_a, admin_client_for):
    client = admin_client_for(member(org_a, Membership.Role.STAFF))

    listed = client.get(reverse("admin:crm_customer_changelist"))
    change = client.get(reverse("admin:crm_customer_change", args=[lea.pk]))

    assert page_url(lea) in listed.text
    assert page_url(lea) in change.text


def test_staff_write_notes_on_the_customer_and_a_subscription_and_read_them_on_the_page(
    org_a, admin_client_for
):
    staff = member(org_a, Membership.Role.STAFF, username="marie")
    customer = CustomerFactory(organization=org_a)
    subscription = SubscriptionFactory(customer=customer, status="active")
    client = admin_client_for(staff)
    customer_form = client.get(reverse("admin:crm_customer_change", args=[customer.pk]))
    data = {
        key: value
        for key, value in customer_form.context["adminform"].form.initial.items()
        if value is not None
    }
    data.update(
        {
            "addresses-TOTAL_FORMS": "0",
            "addresses-INITIAL_FORMS": "0",
            "notes-TOTAL_FORMS": "1",
            "notes-INITIAL_FORMS": "0",
            "notes-0-text": "Prefers deliveries on Tuesdays",
        }
    )

    saved = client.post(reverse("admin:crm_customer_change", args=[customer.pk]), data)
    assert saved.status_code == 302, saved.context and saved.context["errors"]
    from subscriptions.services import subscription_note_add

    subscription_note_add(
        subscription=subscription, text="Gift until June", actor=Actor.for_user(staff)
    )

    page = client.get(page_url(customer), HTTP_ACCEPT_LANGUAGE="fr")
    notes = unescape(page.text[page.text.index('id="customer-notes"') :])
    notes = notes[: notes.index("</div>")]
    assert notes.index("Gift until June") < notes.index("Prefers deliveries on Tuesdays")
    assert "Membre de l\u2019équipe : marie" in notes
    assert f"Abonnement {subscription.pk}" in notes
    assert customer.notes.get().actor_user == staff


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_an_empty_or_overlong_note_is_refused_and_nothing_is_written(org_a, text):
    from core.errors import ApplicationError
    from crm.services import customer_note_add

    customer = CustomerFactory(organization=org_a)
    with pytest.raises(ApplicationError) as refused:
        customer_note_add(customer=customer, text=text, actor=Actor.system())

    assert list(refused.value.extra["fields"]) == ["text"]
    assert not customer.notes.exists()


def test_a_sent_survey_and_a_failed_one_are_on_the_customers_page(
    org_a, admin_client_for, settings
):
    from crm.models import CustomerEmail

    answered_surveys(org_a, [10], answered_at=NOW)
    customer = CustomerEmail.objects.get().customer
    email = customer.emails.get()
    assert (email.kind, email.status, email.to) == ("survey", "sent", customer.email)

    page = admin_client_for(member(org_a, Membership.Role.STAFF)).get(
        page_url(customer), HTTP_ACCEPT_LANGUAGE="fr"
    )
    section = unescape(page.text[page.text.index('id="customer-emails"') :])
    assert "Enquête de satisfaction" in section[: section.index("</div>")]
    assert email.subject in section


def test_the_answers_link_lists_her_answers_not_the_surveys_still_unanswered(
    lea, org_a, admin_client_for
):
    from satisfaction.models import SatisfactionSurvey

    # Her survey sent and not answered yet
    SatisfactionSurvey.objects.filter(customer=lea).update(
        status=SatisfactionSurvey.Status.SENT, score=None, answered_at=None
    )
    client = admin_client_for(member(org_a, Membership.Role.STAFF))

    page = client.get(page_url(lea))

    href, count = SECTION_LINK.findall(unescape(page.text))[-1]
    assert "satisfactionsurvey" in href
    assert count == "0"
    assert client.get(href).context_data["cl"].result_count == 0
