"""Every admin page a person reaches renders, logged out and logged in."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_login_page_renders_for_a_visitor(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_a_staff_member_logs_in_with_a_password(client):
    UserFactory(username="marie", is_superuser=True)

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "marie", "password": "password"}, follow=True
    )

    assert response.status_code == 200
    assert response.context["user"].username == "marie"
    assert response.redirect_chain[-1][0] == "/admin/"


@pytest.mark.parametrize(
    "model_admin", list(admin.site._registry.values()), ids=lambda m: m.model._meta.label
)
def test_every_changelist_and_add_page_renders_for_a_superuser(admin_client, model_admin):
    opts = model_admin.model._meta

    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))

    assert changelist.status_code == 200
    assert add.status_code in (200, 403)  # 403 where nobody adds by hand


def test_a_staff_user_without_membership_sees_no_organization_data(client):
    user = UserFactory(is_superuser=False)
    client.force_login(user)

    response = client.get("/admin/")

    assert response.status_code == 200
    assert b"/admin/crm/customer/" not in response.content
