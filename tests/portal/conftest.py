"""The portal's fixtures: a customer of organization A with an active subscription the
product manages, their signed-in browser (`portal_client_a`), and the others the isolation
sweep tries to reach (another customer of A, a customer of B)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.access import COOKIE, cookie_path
from portal.services import portal_session_start
from tests.factories import AddressFactory, CustomerFactory, SubscriptionFactory


def portal_url(organization, name: str, **kwargs) -> str:
    return reverse(f"portal:{name}", kwargs={"organization": organization.slug, **kwargs})


def signed_in_client(customer) -> Client:
    """A browser signed in to the customer's portal, as the sign-in link leaves it."""
    client = Client()
    _session, key = portal_session_start(customer=customer)
    client.cookies[COOKIE] = key
    client.cookies[COOKIE]["path"] = cookie_path(customer.organization)
    return client


def subscriber(organization, email: str, **subscription_fields):
    customer = CustomerFactory(organization=organization, email=email)
    AddressFactory(organization=organization, customer=customer)
    subscription = SubscriptionFactory(
        customer=customer, status=subscription_fields.pop("status", "active"), **subscription_fields
    )
    return customer, subscription


@pytest.fixture
def portal_customer_a(org_a):
    customer, _subscription = subscriber(org_a, "alice@example.com")
    return customer


@pytest.fixture
def portal_subscription_a(portal_customer_a):
    return portal_customer_a.subscriptions.get()


@pytest.fixture
def portal_client_a(portal_customer_a):
    return signed_in_client(portal_customer_a)


@pytest.fixture
def other_customer_a(org_a):
    """Another subscriber of the same organization."""
    customer, _subscription = subscriber(org_a, "bob@example.com")
    return customer


@pytest.fixture
def customer_b(org_b):
    """A subscriber of another organization, with the same e-mail as portal_customer_a."""
    customer, _subscription = subscriber(org_b, "alice@example.com")
    return customer
