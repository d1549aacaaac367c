"""The fulfillment pages of the back office: cut-off settings and the batch list.

Organization A ("Purea Café") is the members'; organization B is someone else's.
"""

from datetime import UTC, datetime, time

import pytest
from django.utils import formats, timezone, translation

from crm.models import Membership
from fulfillment.models import Batch, FulfillmentSettings
from tests.factories import MembershipFactory, open_batch

pytestmark = pytest.mark.django_db

Role = Membership.Role
SETTINGS = "/admin/fulfillment/fulfillmentsettings/"
BATCHES = "/admin/fulfillment/batch/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def member(organization, role):
    return MembershipFactory(organization=organization, role=role).user


def local(instant, organization):
    with translation.override("en"):
        return formats.date_format(
            timezone.localtime(instant, organization.tzinfo), "DATETIME_FORMAT"
        )


@pytest.fixture
def settings_a(org_a):
    return FulfillmentSettings.objects.create(organization=org_a)


def test_the_cutoff_is_changed_by_the_organizations_administrators(
    admin_client_for, staff_a, org_a, settings_a
):
    org_admin = admin_client_for(member(org_a, Role.ADMIN))
    change = {
        "cutoff_weekday": "4",
        "cutoff_time": "18:30",
        "shipping_offset_days": "2",
        "unpaid_lines": "exclude",
    }

    refused = admin_client_for(staff_a).post(f"{SETTINGS}{settings_a.pk}/change/", change)
    saved = org_admin.post(f"{SETTINGS}{settings_a.pk}/change/", change)

    assert refused.status_code == 403
    assert saved.status_code == 302
    settings_a.refresh_from_db()
    assert (settings_a.cutoff_weekday, settings_a.cutoff_time) == (4, time(18, 30))
    assert (settings_a.shipping_offset_days, settings_a.unpaid_lines) == (2, "exclude")


def test_the_settings_page_says_times_are_in_the_organizations_time_zone(
    admin_client_for, org_a, settings_a
):
    org_a.timezone = "Pacific/Auckland"
    org_a.save()
    viewer = admin_client_for(member(org_a, Role.VIEWER))

    page = viewer.get(f"{SETTINGS}{settings_a.pk}/change/", **EN)
    listing = viewer.get(SETTINGS, **EN)

    content = page.content.decode()
    assert page.status_code == 200
    assert "The cut-off weekday and time are in the organization's time zone" in content
    assert "Pacific/Auckland" in content
    next_cutoff = FulfillmentSettings.objects.get(pk=settings_a.pk).next_cutoff(timezone.now())
    assert local(next_cutoff, org_a) in content
    assert "Wednesday 12:00 (Pacific/Auckland)" in listing.content.decode()


def test_another_organizations_settings_are_not_listed_nor_found(
    admin_client_for, org_a, org_b, settings_a
):
    theirs = FulfillmentSettings.objects.create(organization=org_b, cutoff_weekday=0)
    org_admin = admin_client_for(member(org_a, Role.ADMIN))

    listing = org_admin.get(SETTINGS)
    add = org_admin.get(f"{SETTINGS}add/")

    assert list(listing.context["cl"].result_list) == [settings_a]
    assert org_admin.get(f"{SETTINGS}{theirs.pk}/change/").status_code == 404
    assert org_admin.post(
        f"{SETTINGS}{theirs.pk}/change/", {"cutoff_weekday": "3"}
    ).status_code == (404)
    assert list(add.context["adminform"].form.fields["organization"].queryset) == [org_a]
    theirs.refresh_from_db()
    assert theirs.cutoff_weekday == 0


def test_an_organization_has_one_settings_row_never_deleted(admin_client_for, org_a, settings_a):
    org_admin = admin_client_for(member(org_a, Role.ADMIN))

    second = org_admin.post(
        f"{SETTINGS}add/",
        {
            "organization": org_a.pk,
            "cutoff_weekday": "1",
            "cutoff_time": "10:00",
            "shipping_offset_days": "1",
            "unpaid_lines": "roll",
        },
    )
    deleted = org_admin.post(f"{SETTINGS}{settings_a.pk}/delete/", {"post": "yes"})

    assert second.status_code == 200
    assert "organization" in second.context["adminform"].form.errors
    assert deleted.status_code == 403
    assert list(FulfillmentSettings.objects.filter(organization=org_a)) == [settings_a]


def test_batches_are_listed_read_only_with_the_cutoff_in_the_organizations_time(
    admin_client_for, staff_a, org_a, org_b
):
    org_a.timezone = "America/New_York"
    org_a.save()
    cutoff = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 12:00 in New York
    mine = open_batch(org_a, cutoff)
    theirs = open_batch(org_b, cutoff)
    client = admin_client_for(staff_a)

    listing = client.get(BATCHES, **EN)
    detail = client.get(f"{BATCHES}{mine.pk}/change/", **EN)
    refused = client.post(f"{BATCHES}{mine.pk}/change/", {"status": "canceled"})

    assert list(listing.context["cl"].result_list) == [mine]
    assert local(cutoff, org_a) in listing.content.decode()
    assert "Dec. 2, 2026, noon" in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert refused.status_code == 403
    assert client.get(f"{BATCHES}add/").status_code == 403
    assert client.get(f"{BATCHES}{theirs.pk}/change/").status_code == 404
    mine.refresh_from_db()
    assert mine.status == Batch.Status.OPEN
