"""The shared fixtures, named for what they are: the two organizations, a user of each role
(`<role>_user_<organization>`), Django admin clients logged in as them
(`admin_client_<organization>` for the staff member, `admin_client_a_<role>` for the others)
and API clients holding a key of an organization (`api_client_<organization>`).

Roles are `crm.models.Membership.Role`: administrator (the shop's connection, the settings),
staff (the day-to-day work), viewer (reads only).
"""

from __future__ import annotations

import contextlib

import pytest
from rest_framework.test import APIClient

from crm.models import Membership
from tests.factories import OrganizationFactory, api_key_for, member

Role = Membership.Role


# --- Organizations -------------------------------------------------------------------------


@pytest.fixture
def org_a(db):
    return OrganizationFactory(name="Purea Café", slug="purea")


@pytest.fixture
def org_b(db):
    return OrganizationFactory(name="Other Tea Co", slug="other-tea")


# --- Users, one per role ------------------------------------------------------------------


@pytest.fixture
def staff_user_a(org_a):
    """Claire Petit, staff of A."""
    return member(
        org_a,
        Role.STAFF,
        username="claire",
        first_name="Claire",
        last_name="Petit",
        email="claire@example.com",
    )


@pytest.fixture
def staff_user_b(org_b):
    return member(org_b, Role.STAFF)


@pytest.fixture
def administrator_user_a(org_a):
    """Olga, an administrator of A: the shop's connection and its buttons are hers."""
    return member(org_a, Role.ADMIN, username="olga-owner")


@pytest.fixture
def viewer_user_a(org_a):
    """Vera, a viewer of A: she reads, changes nothing."""
    return member(org_a, Role.VIEWER, username="vera-viewer")


# --- Admin clients (Django's test client, logged in) -------------------------------------


@pytest.fixture
def admin_client_for():
    """A Django test client logged in as the given user."""
    from django.test import Client

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def admin_client_a(admin_client_for, staff_user_a):
    """The back office as A's staff member sees it."""
    return admin_client_for(staff_user_a)


@pytest.fixture
def admin_client_b(admin_client_for, staff_user_b):
    """The back office as B's staff member sees it."""
    return admin_client_for(staff_user_b)


@pytest.fixture
def admin_client_a_administrator(admin_client_for, administrator_user_a):
    return admin_client_for(administrator_user_a)


@pytest.fixture
def admin_client_a_viewer(admin_client_for, viewer_user_a):
    return admin_client_for(viewer_user_a)


# --- API clients (a key of the organization) ---------------------------------------------


@pytest.fixture
def api_client_for():
    """An API client authenticated with a new key of the given organization."""

    def make(organization):
        _row, key = api_key_for(organization)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    return make


@pytest.fixture
def api_client_a(api_client_for, org_a):
    return api_client_for(org_a)


@pytest.fixture
def api_client_b(api_client_for, org_b):
    return api_client_for(org_b)


# --- Data made once for several tests ---------------------------------------------------------


@contextlib.contextmanager
def rolled_back_afterwards(django_db_blocker):
    """For a module- or class-scoped fixture: what it writes inside is seen by the tests
    that use it (each inside it, rolled back after each as always) and rolled back once
    the last of them has run.

    Only for tests on `db`: a `transactional_db` test or another process (a Celery worker)
    would not see it. Until the scope ends every test of the scope runs inside it, those
    that do not ask for it too: put those that do in a class, or last in the module.
    """
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def demo_once(django_db_setup, django_db_blocker):
    """The demo (`manage.py load_demo`) loaded once for a module's tests: what it printed.

    Loading it takes seconds; a module of tests each checking one thing about it shares one
    load. It is loaded in a transaction rolled back after the module; each test runs inside
    it (its own changes rolled back after it, as always). The e-mails the load sent are
    `demo_once.sent` (each test starts with an empty outbox).
    """
    from django.core import mail

    from tests.helpers import load_demo

    class Loaded(str):
        sent: list

    with rolled_back_afterwards(django_db_blocker):
        already = len(mail.outbox)
        loaded = Loaded(load_demo())
        loaded.sent = list(mail.outbox[already:])
        yield loaded
