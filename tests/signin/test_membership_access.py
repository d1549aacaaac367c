"""A membership opens the back office; a right password never reads as a wrong one (issue 25, 7)."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from crm.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.signin.conftest import password_step

pytestmark = pytest.mark.django_db

WRONG_PASSWORD_EN = "Please enter the correct username and password"
NO_ORGANIZATION_EN = "This account does not belong to any organization"
NO_ORGANIZATION_FR = "Ce compte n\u2019appartient à aucune organisation"


def _text(response):
    return " ".join(response.content.decode().split())


def test_a_user_added_as_a_member_without_staff_status_logs_in(org_a):
    # Given a user created without staff status (a superuser makes the accounts)
    claire = UserFactory(is_staff=False)
    superuser = UserFactory(is_superuser=True)
    admin_browser = Client()
    admin_browser.force_login(superuser)

    # When she is added as a member of the organization on the memberships page
    added = admin_browser.post(
        "/admin/crm/membership/add/",
        {"user": claire.pk, "organization": org_a.pk, "role": Membership.Role.STAFF},
    )

    # Then her password opens the back office
    assert added.status_code == 302, added.context["adminform"].form.errors
    claire.refresh_from_db()
    assert claire.is_staff
    client = Client()
    answer = password_step(client, claire)
    assert answer.status_code == 302
    assert int(client.session[SESSION_KEY]) == claire.pk
    assert client.get("/admin/").status_code == 200


def test_a_right_password_without_any_membership_is_told_so_not_that_it_is_wrong(client_fr):
    # Given a user whose password is right but who belongs to no organization
    outsider = UserFactory(is_staff=False)

    # When they log in, in English and in French
    english = password_step(Client(HTTP_ACCEPT_LANGUAGE="en"), outsider)
    french = password_step(client_fr, outsider)

    # Then the page says why, and whom to ask; not that the password is wrong
    assert english.status_code == 200
    assert NO_ORGANIZATION_EN in _text(english)
    assert WRONG_PASSWORD_EN not in _text(english)
    assert NO_ORGANIZATION_FR in _text(french)
    assert SESSION_KEY not in client_fr.session


def test_a_wrong_password_still_says_it_is_wrong(staff_user_a):
    answer = password_step(Client(HTTP_ACCEPT_LANGUAGE="en"), staff_user_a, "wrong")

    assert WRONG_PASSWORD_EN in _text(answer)
    assert NO_ORGANIZATION_EN not in _text(answer)


def test_losing_the_last_membership_closes_the_back_office_but_a_superuser_keeps_it(org_a, org_b):
    # Given a member of two organizations and a superuser member of one
    member = MembershipFactory(organization=org_a).user
    MembershipFactory(organization=org_b, user=member)
    superuser = UserFactory(is_superuser=True)
    MembershipFactory(organization=org_a, user=superuser)

    # When the first membership goes, then she is still staff; when the last goes, not
    Membership.objects.filter(user=member, organization=org_a).delete()
    member.refresh_from_db()
    assert member.is_staff
    Membership.objects.filter(user=member).delete()
    member.refresh_from_db()
    assert not member.is_staff
    assert password_step(Client(), member).status_code == 200

    # And the superuser keeps staff status without membership
    Membership.objects.filter(user=superuser).delete()
    superuser.refresh_from_db()
    assert superuser.is_staff


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_staff_status_to_members_added_without_it():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("crm", "0008_staff_notes"), ("crm", "0009_members_are_staff")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    user_model = old.get_model("auth", "User")
    organization = old.get_model("crm", "Organization").objects.create(name="Old", slug="old")
    member = user_model.objects.create(username="member", is_staff=False)
    outsider = user_model.objects.create(username="outsider", is_staff=False)
    old.get_model("crm", "Membership").objects.create(
        user=member, organization=organization, role="staff"
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    assert users.get(pk=member.pk).is_staff
    assert not users.get(pk=outsider.pk).is_staff
