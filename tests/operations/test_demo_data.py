"""`load_demo`: a progress bar over its steps, and an operation saying when it ran."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from crm.models import Organization
from operations.models import Operation

pytestmark = pytest.mark.django_db


def test_load_demo_shows_its_steps_and_records_when_it_ran():
    out, err = io.StringIO(), io.StringIO()

    call_command("load_demo", password="demo", progress=True, stdout=out, stderr=err)

    # The bar goes to the error output; the logins stay where scripts read them.
    assert "Demo data" in err.getvalue()
    assert "7/7" in err.getvalue()
    assert "7/7" not in out.getvalue()
    assert "  Superuser:    admin / demo" in out.getvalue()
    assert "  Staff (Purea Café admin): marie / demo" in out.getvalue()
    assert "  Staff (Maison du Thé admin): camille / demo" in out.getvalue()
    operation = Operation.objects.get()
    assert operation.organization == Organization.objects.get(slug="purea-cafe")
    assert (operation.kind, operation.status, operation.subject) == (
        Operation.Kind.DEMO_DATA,
        Operation.Status.SUCCEEDED,
        "Purea Café",
    )
    assert (operation.done, operation.total) == (7, 7)
    assert operation.started_at <= operation.finished_at
    assert "products" in operation.result_summary


def test_the_second_organizations_printed_login_opens_its_own_back_office_only(client):
    from django.contrib.auth import get_user_model

    call_command("load_demo", password="demo", stdout=io.StringIO(), stderr=io.StringIO())
    camille = get_user_model().objects.get(username="camille")
    assert camille.check_password("demo")
    client.force_login(camille)

    customers = client.get("/admin/crm/customer/").context["cl"].queryset

    assert {customer.organization.slug for customer in customers} <= {"maison-du-the"}
    assert client.get("/admin/").context["dashboard"]["organization"].slug == "maison-du-the"


def test_load_demo_off_a_terminal_shows_no_bar():
    err = io.StringIO()

    call_command("load_demo", password="demo", stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == ""
