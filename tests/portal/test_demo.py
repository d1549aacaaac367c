"""The demo's portal: `make run` prints its address and a subscriber to sign in as, and
signing in as them shows a lived-in space (a subscription to act on, a delivered box)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from crm.models import Organization
from tests.portal.test_sign_in import CODE

pytestmark = pytest.mark.django_db


def test_the_printed_subscriber_signs_in_to_a_lived_in_space(
    demo_once, django_capture_on_commit_callbacks
):
    address = re.search(r"Subscribers' portal: \S+?(/p/[\w-]+/)", demo_once).group(1)
    email = re.search(r"Portal sign-in:\s+(\S+@\S+)", demo_once).group(1)
    purea = Organization.objects.get(slug="purea-cafe")
    assert address == f"/p/{purea.slug}/"
    client = Client()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{address}sign-in/", {"email": email})
    code = CODE.search(mail.outbox[-1].body).group(1)
    client.post(f"{address}sign-in/code/", {"code": code})
    home = client.get(address)

    assert home.status_code == 200
    text = home.content.decode()
    assert "Espace abonnés Purea Café" in text
    subscription = re.search(rf"{address}subscriptions/\d+/", text).group(0)
    page = client.get(subscription).content.decode()
    assert "Modifier mes préférences" in page  # a subscription they may change
    assert "Sauter la box du" in page  # ... and whose coming deliveries they may skip
    boxes = client.get(f"{address}boxes/").content.decode()
    assert "Un problème avec cette box" in boxes  # a delivered box inside its window
