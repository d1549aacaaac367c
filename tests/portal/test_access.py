"""Who may open a portal page: a live session of a customer of that organization only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.access import COOKIE
from portal.models import PortalSession, PortalSettings
from portal.services import portal_sessions_end_all
from tests.portal.conftest import portal_url, signed_in_client

pytestmark = pytest.mark.django_db


def test_a_signed_in_customer_sees_their_subscriptions(portal_client_a, org_a):
    response = portal_client_a.get(portal_url(org_a, "home"))
    assert response.status_code == 200
    assert org_a.name in response.content.decode()


def test_without_a_session_every_page_leads_to_sign_in(client, org_a, portal_customer_a):
    response = client.get(portal_url(org_a, "home"))
    assert response.status_code == 302
    assert response["Location"].startswith(portal_url(org_a, "sign-in"))


def test_a_session_opens_only_its_own_organizations_portal(portal_client_a, org_b, customer_b):
    # Same e-mail in organization B; A's cookie is not a session there.
    response = portal_client_a.get(portal_url(org_b, "home"))
    assert response.status_code == 302
    assert response["Location"].startswith(portal_url(org_b, "sign-in"))


def test_a_staff_session_gives_no_portal_access(admin_client_a, org_a, portal_customer_a):
    response = admin_client_a.get(portal_url(org_a, "home"))
    assert response.status_code == 302
    assert "sign-in" in response["Location"]


def test_a_portal_session_gives_no_staff_access(portal_client_a):
    response = portal_client_a.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert portal_client_a.get("/api/v1/customers/").status_code in (401, 403)


def test_an_expired_or_ended_session_is_refused(portal_customer_a, org_a):
    client = signed_in_client(portal_customer_a)
    PortalSession.objects.filter(customer=portal_customer_a).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get(portal_url(org_a, "home")).status_code == 302

    client = signed_in_client(portal_customer_a)
    other_device = signed_in_client(portal_customer_a)
    assert other_device.get(portal_url(org_a, "home")).status_code == 200
    portal_sessions_end_all(customer=portal_customer_a)
    assert client.get(portal_url(org_a, "home")).status_code == 302
    assert other_device.get(portal_url(org_a, "home")).status_code == 302


def test_an_unknown_organization_or_a_closed_portal_is_not_found(portal_client_a, org_a, client):
    assert client.get("/p/no-such-shop/sign-in/").status_code == 404
    PortalSettings.objects.update_or_create(organization=org_a, defaults={"enabled": False})
    assert portal_client_a.get(portal_url(org_a, "home")).status_code == 404
    assert client.get(portal_url(org_a, "sign-in")).status_code == 404


def test_the_cookie_is_http_only_and_scoped_to_the_portal(portal_customer_a, org_a):
    from django.http import HttpResponse

    from portal.access import set_session_cookie

    response = HttpResponse()
    set_session_cookie(response, org_a, "key")
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == portal_url(org_a, "home")


def test_the_theme_carries_the_organizations_colours(client, org_a):
    PortalSettings.objects.update_or_create(
        organization=org_a, defaults={"primary_colour": "#123456"}
    )
    response = client.get(portal_url(org_a, "theme"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "#123456" in response.content.decode()
