"""Two-factor sign-in for staff: the login's second step, the setup, recovery codes, the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import ConflictError
from crm.models import Membership
from signin import services
from signin.selectors import second_factor_needed, two_factor_required
from tests.factories import UserFactory, member
from tests.signin.conftest import CODE, SETUP, TWO_FACTOR, code_of, enrol, password_step

pytestmark = pytest.mark.django_db


def logged_in(client) -> bool:
    return SESSION_KEY in client.session and client.get("/admin/").status_code == 200


# --- Without a second factor, nothing changes -----------------------------------------------


def test_without_a_second_factor_the_password_alone_logs_in(staff_user_a):
    client = Client()
    answer = password_step(client, staff_user_a)
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/"
    assert logged_in(client)


def test_the_login_page_keeps_djangos_form_and_the_next_address(staff_user_a):
    page = Client().get("/admin/login/?next=/admin/crm/customer/")
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert 'value="/admin/crm/customer/"' in page.text
    answer = Client().post(
        "/admin/login/?next=/admin/crm/customer/",
        {"username": staff_user_a.username, "password": "password", "next": "/admin/crm/customer/"},
    )
    assert answer["Location"] == "/admin/crm/customer/"


# --- With an authenticator app --------------------------------------------------------------


def test_after_the_password_the_login_asks_for_the_code_and_only_then_logs_in(staff_user_a):
    device, _codes = enrol(staff_user_a)
    client = Client()

    # When Claire gives her password
    answer = password_step(client, staff_user_a)

    # Then she is asked for the code, and not logged in yet
    assert answer.status_code == 302
    assert answer["Location"] == CODE
    assert SESSION_KEY not in client.session
    assert client.get("/admin/").status_code == 302
    page = client.get(CODE)
    assert "Enter the six-digit code your authenticator app shows" in page.text

    # When she types the code her app shows (the next period's: the setup used this one)
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        answer = client.post(CODE, {"code": code_of(device)})

        # Then she is in, and the session knows which device verified it
        assert answer.status_code == 302
        assert answer["Location"] == "/admin/"
        assert logged_in(client)
        assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_wrong_code_is_refused_with_a_clear_error_and_logs_nobody_in(staff_user_a):
    device, _codes = enrol(staff_user_a)
    client = Client()
    password_step(client, staff_user_a)
    right = code_of(device, steps_ahead=1)
    wrong = "123456" if right != "123456" else "654321"

    page = client.post(CODE, {"code": wrong})

    assert page.status_code == 200
    assert "This code is not valid" in page.text
    assert SESSION_KEY not in client.session


def test_the_code_step_without_a_right_password_first_goes_back_to_the_login(staff_user_a):
    enrol(staff_user_a)
    assert Client().get(CODE)["Location"] == "/admin/login/"
    assert Client().post(CODE, {"code": "123456"})["Location"] == "/admin/login/"


def test_a_right_password_waits_five_minutes_for_its_code(staff_user_a):
    device, _codes = enrol(staff_user_a)
    client = Client()
    password_step(client, staff_user_a)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        answer = client.post(CODE, {"code": code_of(device)})
        assert answer["Location"] == "/admin/login/"
        assert SESSION_KEY not in client.session


def test_a_recovery_code_logs_in_once(staff_user_a):
    _device, codes = enrol(staff_user_a)
    assert len(codes) == 10
    assert len(set(codes)) == 10

    client = Client()
    password_step(client, staff_user_a)
    answer = client.post(CODE, {"code": codes[0].upper()}, follow=True)
    assert answer.status_code == 200
    assert "You signed in with a recovery code: 9 are left." in answer.text
    assert logged_in(client)

    again = Client()
    password_step(again, staff_user_a)
    assert "This code is not valid" in again.post(CODE, {"code": codes[0]}).text
    assert SESSION_KEY not in again.session


# --- The staff member's own page ------------------------------------------------------------


def test_any_staff_member_sets_it_up_from_their_page(staff_user_a, admin_client_for):
    client = admin_client_for(staff_user_a)
    assert 'data-enabled="false"' in client.get(TWO_FACTOR).text

    # When Claire starts the setup, she sees a QR code and the key
    page = client.post(TWO_FACTOR, {"action": "start"})
    assert '<div class="qr-code"><svg' in page.text
    device = TOTPDevice.objects.get(user=staff_user_a)
    assert not device.confirmed
    # A wrong code leaves it off
    wrong = client.post(TWO_FACTOR, {"action": "confirm", "code": "000000"})
    assert '<div class="qr-code"><svg' in wrong.text
    device.refresh_from_db()
    assert not device.confirmed

    # When she types the code the app shows, it is on: ten recovery codes, shown once
    page = client.post(TWO_FACTOR, {"action": "confirm", "code": code_of(device)})
    device.refresh_from_db()
    assert device.confirmed
    tokens = StaticDevice.objects.get(user=staff_user_a).token_set.values_list("token", flat=True)
    assert len(tokens) == 10
    assert all(token in page.text for token in tokens)
    assert not any(token in str(client.cookies) for token in tokens)
    # ...and this session stays open: it was verified by the new device
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert 'data-enabled="true"' in client.get(TWO_FACTOR).text


def test_new_recovery_codes_and_turning_off_ask_for_a_current_code(staff_user_a):
    device, codes = enrol(staff_user_a)
    client = Client()
    client.force_login(staff_user_a)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    # Without the right code nothing changes
    answer = client.post(TWO_FACTOR, {"action": "disable", "code": "000000"}, follow=True)
    assert "This code is not the one your app shows now." in answer.text
    assert TOTPDevice.objects.filter(user=staff_user_a, confirmed=True).exists()

    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        page = client.post(TWO_FACTOR, {"action": "renew", "code": code_of(device)})
    new = list(
        StaticDevice.objects.get(user=staff_user_a).token_set.values_list("token", flat=True)
    )
    assert len(new) == 10
    assert not set(new) & set(codes)
    assert all(code in page.text for code in new)

    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        device.refresh_from_db()
        client.post(TWO_FACTOR, {"action": "disable", "code": code_of(device)})
    assert not TOTPDevice.objects.filter(user=staff_user_a).exists()
    assert not StaticDevice.objects.filter(user=staff_user_a).exists()
    assert password_step(Client(), staff_user_a)["Location"] == "/admin/"


def test_the_two_factor_page_is_for_logged_in_staff_only(staff_user_a):
    assert Client().get(TWO_FACTOR)["Location"].startswith("/admin/login/")


# --- Required by the organization, or by the site -------------------------------------------


def test_an_organization_requires_it_of_its_admins_and_they_set_it_up_at_login(org_a):
    org_a.two_factor_required = True
    org_a.save()
    marie = member(org_a, Membership.Role.ADMIN, username="marie")
    claire = member(org_a, Membership.Role.STAFF, username="claire")
    assert two_factor_required(user=marie)
    assert not two_factor_required(user=claire)

    # Staff who are not admins log in as before
    assert password_step(Client(), claire)["Location"] == "/admin/"

    # Marie's password leads to the setup, not into the back office
    client = Client()
    answer = password_step(client, marie)
    assert answer["Location"] == SETUP
    assert SESSION_KEY not in client.session
    page = client.get(SETUP)
    assert "Your organization requires two-factor sign-in" in page.text
    device = TOTPDevice.objects.get(user=marie, confirmed=False)
    assert device.config_url.split("secret=")[1].split("&")[0] in page.text.replace(" ", "")

    # The first code from her app turns it on, logs her in and shows the recovery codes
    page = client.post(SETUP, {"code": code_of(device)})
    assert page.status_code == 200
    assert "Your recovery codes" in page.text
    assert logged_in(client)
    device.refresh_from_db()
    assert device.confirmed


def test_an_admin_cannot_turn_it_off_while_their_organization_requires_it(org_a):
    marie = member(org_a, Membership.Role.ADMIN)
    enrol(marie)
    org_a.two_factor_required = True
    org_a.save()
    with pytest.raises(ConflictError):
        services.two_factor_disable(user=marie)
    assert TOTPDevice.objects.filter(user=marie).exists()


def test_the_site_setting_requires_it_of_every_admin_and_superuser(org_a, settings):
    marie = member(org_a, Membership.Role.ADMIN)
    claire = member(org_a, Membership.Role.STAFF)
    root = UserFactory(is_superuser=True)
    assert not any(two_factor_required(user=user) for user in (marie, claire, root))

    settings.TWO_FACTOR_REQUIRED_FOR_ADMINS = True

    assert two_factor_required(user=marie)
    assert two_factor_required(user=root)
    assert not two_factor_required(user=claire)
    assert password_step(Client(), root)["Location"] == SETUP


def test_a_session_opened_before_the_requirement_is_signed_out(org_a):
    marie = member(org_a, Membership.Role.ADMIN)
    client = Client()
    client.force_login(marie)
    assert client.get("/admin/").status_code == 200

    # When her organization starts to require a second factor
    org_a.two_factor_required = True
    org_a.save()

    # Then her next page signs her out, to the login (then the setup)
    answer = client.get("/admin/crm/customer/")
    assert answer.status_code == 302
    assert answer["Location"] == "/admin/login/?next=/admin/crm/customer/"
    assert SESSION_KEY not in client.session


def test_a_session_without_the_code_is_signed_out_once_the_person_sets_it_up(staff_user_a):
    # A session opened on another computer before Claire turned it on
    elsewhere = Client()
    elsewhere.force_login(staff_user_a)
    enrol(staff_user_a)
    answer = elsewhere.get("/fulfillment/")
    assert answer.status_code == 302
    assert SESSION_KEY not in elsewhere.session


def test_the_check_on_each_staff_page_is_one_query(staff_user_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert second_factor_needed(user=staff_user_a) is False
