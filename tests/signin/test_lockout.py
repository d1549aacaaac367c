"""The admin login locks after repeated failures, per username and address (django-axes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from signin.addresses import client_ip
from tests.factories import UserFactory
from tests.signin.conftest import CODE, LOGIN, code_of, enrol, password_step

pytestmark = pytest.mark.django_db

LOCKED_EN = (
    "Too many failed sign-in attempts for this account from your address. "
    "Try again in 15 minutes, or ask a superuser to unlock it."
)
LOCKED_FR = (
    "Trop de tentatives de connexion échouées pour ce compte depuis votre adresse. "
    "Réessayez dans 15 minutes ou demandez à un superutilisateur de le débloquer."
)


def fail_five_times(client, user, **extra):
    return [password_step(client, user, "wrong", **extra) for _ in range(5)]


def test_five_wrong_passwords_lock_the_login_and_then_the_right_one_is_refused(staff_user_a):
    client = Client()

    # When someone tries five wrong passwords for Claire's account
    answers = fail_five_times(client, staff_user_a)

    # Then the first four get the form again, the fifth the lockout
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]
    assert LOCKED_EN in " ".join(answers[-1].content.decode().split())
    # ...and the right password, at once, is refused too
    answer = password_step(client, staff_user_a)
    assert answer.status_code == 429
    assert SESSION_KEY not in client.session
    assert Client().get("/admin/").status_code == 302


def test_thirty_wrong_passwords_in_a_burst_then_the_right_one_never_log_in(staff_user_a):
    client = Client()
    codes = {password_step(client, staff_user_a, f"guess-{n}").status_code for n in range(30)}
    assert codes == {200, 429}
    assert password_step(client, staff_user_a).status_code == 429
    assert SESSION_KEY not in client.session


def test_the_lockout_message_is_in_french_for_a_french_browser(staff_user_a, client_fr):
    fail_five_times(client_fr, staff_user_a)
    answer = password_step(client_fr, staff_user_a)
    assert answer.status_code == 429
    assert LOCKED_FR in " ".join(answer.content.decode().split())


def test_the_lock_holds_for_that_username_from_that_address_only(staff_user_a, staff_user_b):
    client = Client(REMOTE_ADDR="203.0.113.7")
    fail_five_times(client, staff_user_a)

    # Another account from the same address, and the same account from another one, log in
    assert password_step(Client(REMOTE_ADDR="203.0.113.7"), staff_user_b).status_code == 302
    assert password_step(Client(REMOTE_ADDR="198.51.100.2"), staff_user_a).status_code == 302
    # The locked pair stays locked
    assert password_step(Client(REMOTE_ADDR="203.0.113.7"), staff_user_a).status_code == 429


def test_after_the_cool_off_the_right_password_logs_in_and_the_count_starts_again(staff_user_a):
    client = Client()
    fail_five_times(client, staff_user_a)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        answer = password_step(client, staff_user_a)
        assert answer.status_code == 302
        assert client.session[SESSION_KEY] == str(staff_user_a.pk)
        assert not AccessAttempt.objects.filter(username=staff_user_a.username).exists()


def test_a_superuser_unlocks_the_account_from_the_admin(staff_user_a):
    client = Client()
    fail_five_times(client, staff_user_a)
    attempt = AccessAttempt.objects.get(username=staff_user_a.username)

    # When a superuser deletes the attempt (Axes > Access attempts > Delete)
    superuser = UserFactory(is_superuser=True)
    admin = Client()
    admin.force_login(superuser)
    answer = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert answer.status_code == 302

    # Then the right password logs in again
    assert password_step(client, staff_user_a).status_code == 302


def test_staff_who_are_not_superusers_cannot_see_or_clear_the_attempts(
    staff_user_a, admin_client_for
):
    fail_five_times(Client(), staff_user_a)
    from crm.models import Membership
    from tests.factories import member

    organization_admin = member(staff_user_a.memberships.get().organization, Membership.Role.ADMIN)
    client = admin_client_for(organization_admin)
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    attempt = AccessAttempt.objects.get()
    answer = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert answer.status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_wrong_second_factor_codes_count_as_failed_logins(staff_user_a):
    device, _codes = enrol(staff_user_a)
    client = Client()
    assert password_step(client, staff_user_a).status_code == 302  # to the code step

    right = code_of(device, steps_ahead=1)
    wrong = "000000" if right != "000000" else "111111"
    answers = [client.post(CODE, {"code": wrong}) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]
    # Locked: neither the right code nor the right password gets in
    assert client.post(CODE, {"code": right}).status_code == 429
    assert password_step(client, staff_user_a).status_code == 429
    assert SESSION_KEY not in client.session


def test_the_address_comes_from_the_connection_unless_proxies_are_configured(rf, settings):
    request = rf.get(LOGIN, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    # A client may write X-Forwarded-For itself: ignored by default
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"
    # Behind one proxy that appends the address it saw: the last entry
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"
    # Fewer entries than proxies: the connection's
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.2"


def test_the_demos_logins_work_with_a_password_alone_and_a_new_load_demo_unlocks_them():
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("load_demo", password="demo-password", stdout=StringIO())
    marie = get_user_model().objects.get(username="marie")
    client = Client()
    fail_five_times(client, marie)
    assert password_step(client, marie, "demo-password").status_code == 429

    # `make run` loads the demo again and prints the logins: they work at once
    call_command("load_demo", password="demo-password", stdout=StringIO())
    for username in ("marie", "admin"):
        user = get_user_model().objects.get(username=username)
        answer = password_step(Client(), user, "demo-password")
        assert answer.status_code == 302
        assert answer["Location"] == "/admin/"  # no second step
