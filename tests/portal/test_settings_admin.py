"""The portal in the back office: its settings (administrators decide, others read) and the
read-only lists of sign-in requests and sessions, with "sign out everywhere"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.models import PortalSession, PortalSettings
from portal.services import portal_settings_ensure, portal_settings_update, sign_in_request
from tests.helpers import messages_of
from tests.portal.conftest import signed_in_client

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:portal_portalsettings_changelist")


def change_url(portal_settings):
    return reverse("admin:portal_portalsettings_change", args=[portal_settings.pk])


def page_data(portal_settings, **changes):
    """The settings page as submitted: its fields, unchecked boxes left out."""
    values = {
        "enabled": portal_settings.enabled,
        "name": portal_settings.name,
        "primary_colour": portal_settings.primary_colour,
        "background_colour": portal_settings.background_colour,
        "shop_account_url": portal_settings.shop_account_url,
        **{
            field.name: getattr(portal_settings, field.name)
            for field in PortalSettings._meta.fields
            if field.name.startswith("allow_")
        },
        **changes,
    }
    return {name: value for name, value in values.items() if value is not False}


def test_the_list_makes_each_organizations_row_and_shows_its_address(
    admin_client_a_administrator, org_a, org_b
):
    response = admin_client_a_administrator.get(CHANGELIST)

    assert response.status_code == 200
    assert PortalSettings.objects.filter(organization=org_a).exists()
    assert not PortalSettings.objects.filter(organization=org_b).exists()
    assert f'href="http://testserver/p/{org_a.slug}/"' in response.content.decode().replace(
        "http://localhost:8000", "http://testserver"
    )


def test_an_administrator_decides(admin_client_a_administrator, org_a):
    portal_settings = portal_settings_ensure(organization=org_a)

    page = admin_client_a_administrator.get(change_url(portal_settings))
    assert page.status_code == 200
    html = page.content.decode()
    for group in ("Access", "Look", "What subscribers may do", "Shop link"):
        assert group in html
    assert f"/p/{org_a.slug}/" in html

    response = admin_client_a_administrator.post(
        change_url(portal_settings),
        page_data(
            portal_settings,
            name="Purea at home",
            primary_colour="#123456",
            allow_cancel=False,
            shop_account_url="https://shop.example/my-account/",
        ),
    )

    assert response.status_code == 302
    portal_settings.refresh_from_db()
    assert portal_settings.name == "Purea at home"
    assert portal_settings.primary_colour == "#123456"
    assert portal_settings.allow_cancel is False
    assert portal_settings.allow_skip is True
    assert portal_settings.shop_account_url == "https://shop.example/my-account/"


def test_a_wrong_colour_is_refused_on_its_field(admin_client_a_administrator, org_a):
    portal_settings = portal_settings_ensure(organization=org_a)

    response = admin_client_a_administrator.post(
        change_url(portal_settings), page_data(portal_settings, primary_colour="green")
    )

    assert response.status_code == 200
    assert "primary_colour" in response.context["adminform"].form.errors
    portal_settings.refresh_from_db()
    assert portal_settings.primary_colour == "#2f6f4e"


def test_the_service_refuses_what_the_model_refuses(org_a, staff_user_a):
    from core.actors import Actor
    from core.errors import ApplicationError

    portal_settings_ensure(organization=org_a)
    with pytest.raises(ApplicationError) as refused:
        portal_settings_update(
            organization=org_a, actor=Actor.for_user(staff_user_a), background_colour="#12"
        )
    assert "background_colour" in refused.value.extra["fields"]
    assert PortalSettings.objects.get(organization=org_a).background_colour == "#f5f7fa"


@pytest.mark.parametrize("who", ["admin_client_a", "admin_client_a_viewer"])
def test_staff_and_viewers_read_only(request, who, org_a):
    client = request.getfixturevalue(who)
    portal_settings = portal_settings_ensure(organization=org_a)

    assert client.get(CHANGELIST).status_code == 200
    page = client.get(change_url(portal_settings))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(change_url(portal_settings), page_data(portal_settings, name="Hacked"))
    assert response.status_code == 403
    portal_settings.refresh_from_db()
    assert portal_settings.name == ""


def test_another_organizations_settings_are_not_found(admin_client_a_administrator, org_b):
    theirs = portal_settings_ensure(organization=org_b)

    assert admin_client_a_administrator.get(change_url(theirs)).status_code == 404
    response = admin_client_a_administrator.post(
        change_url(theirs), page_data(theirs, name="Hacked")
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == ""


def test_staff_read_sign_in_requests_without_their_secrets(
    admin_client_a, org_a, org_b, portal_customer_a
):
    mine = sign_in_request(organization=org_a, email="alice@example.com", client="203.0.113.7")
    sign_in_request(organization=org_b, email="zz-other@example.com", client="203.0.113.8")

    listing = admin_client_a.get(reverse("admin:portal_signinrequest_changelist"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "alice@example.com" in html
    assert "zz-other@example.com" not in html
    page = admin_client_a.get(reverse("admin:portal_signinrequest_change", args=[mine.pk]))
    assert page.status_code == 200
    assert mine.code_hash not in page.content.decode()
    assert mine.token_hash not in page.content.decode()


def test_staff_sign_a_customer_out_everywhere(
    admin_client_a, admin_client_a_viewer, org_a, portal_customer_a, other_customer_a
):
    signed_in_client(portal_customer_a), signed_in_client(portal_customer_a)
    signed_in_client(other_customer_a)
    sessions = PortalSession.objects.filter(customer=portal_customer_a)
    changelist = reverse("admin:portal_portalsession_changelist")
    action = {
        "action": "sign_out_everywhere",
        "_selected_action": [sessions.first().pk],
        "index": 0,
    }

    # A viewer is not offered the action, and running it changes nothing.
    assert "sign_out_everywhere" not in admin_client_a_viewer.get(changelist).content.decode()
    admin_client_a_viewer.post(changelist, action)
    assert sessions.filter(ended_at__isnull=True).count() == 2

    response = admin_client_a.post(changelist, action, follow=True)

    assert messages_of(response) == ["2 sessions ended."]
    assert sessions.filter(ended_at__isnull=True).count() == 0
    assert PortalSession.objects.filter(customer=other_customer_a, ended_at__isnull=True).exists()


def test_nobody_adds_edits_or_deletes_sessions_by_hand(admin_client_a_administrator, org_a):
    for model in ("portalsession", "signinrequest", "portalsettings"):
        assert (
            admin_client_a_administrator.get(reverse(f"admin:portal_{model}_add")).status_code
            == 403
        )


def test_the_lists_cost_the_same_for_one_row_or_many(
    admin_client_a, org_a, portal_customer_a, other_customer_a
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lists = [
        reverse("admin:portal_portalsession_changelist"),
        reverse("admin:portal_signinrequest_changelist"),
    ]

    def cost():
        counts = []
        for url in lists:
            with CaptureQueriesContext(connection) as queries:
                assert admin_client_a.get(url).status_code == 200
            counts.append(len(queries))
        return counts

    signed_in_client(portal_customer_a)
    sign_in_request(organization=org_a, email="alice@example.com", client="203.0.113.7")
    one = cost()
    for customer in (portal_customer_a, other_customer_a, other_customer_a):
        signed_in_client(customer)
        sign_in_request(organization=org_a, email=customer.email, client="203.0.113.7")
    assert cost() == one
