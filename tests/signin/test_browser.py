"""In a real browser, under the Content-Security-Policy: the lockout, and a TOTP sign-in.

The code is computed here from the secret the setup page shows, as the staff
member's authenticator app would compute it from the QR code.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import time_machine
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import Membership
from tests.factories import member

#: One Chromium for this module's tests (tests/browser.py); each test has its own page.
BROWSER_SCOPE = "module"

PASSWORD = "password"  # the factories'


def submit_login(page, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form input[type=submit]")
    page.wait_for_load_state()


def app_code(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this base32 key (RFC 6238: SHA-1, 30 s, 6 digits)."""
    totp = TOTP(base64.b32decode(secret))
    totp.time = totp.time + 30 * steps_ahead
    return f"{totp.token():06d}"


def test_five_wrong_passwords_lock_the_login_in_the_browser(page, screenshots, org_a):
    # Given Marie, admin of the roaster
    member(org_a, Membership.Role.ADMIN, username="marie")

    # When someone types five wrong passwords for her account
    page.goto("/admin/login/")
    for attempt in range(4):
        submit_login(page, "marie", f"guess-{attempt}")
        assert page.locator(".errornote").count() == 1  # Django's "correct username and password"
    submit_login(page, "marie", "guess-4")

    # Then the login is locked, with a message saying what to do
    message = page.locator("#content-main.locked-out .errornote").inner_text()
    assert "Too many failed sign-in attempts for this account from your address" in message
    assert "ask a superuser to unlock it" in message
    screenshots(page, "locked")

    # ...and even the right password does not open it now
    page.goto("/admin/login/")
    submit_login(page, "marie", PASSWORD)
    assert page.locator("#content-main.locked-out").count() == 1
    assert "/admin/login/" in page.url


def test_a_staff_member_turns_on_two_factor_and_signs_in_with_the_apps_code(
    page, screenshots, org_a
):
    # Given Claire, staff of the roaster, logged in with her password alone
    member(org_a, Membership.Role.STAFF, username="claire")
    page.goto("/admin/login/")
    submit_login(page, "claire", PASSWORD)
    page.wait_for_url(lambda url: "/admin/login/" not in url)

    # When she opens "Two-factor sign-in" in the header and sets it up
    page.click("#user-tools a.two-factor-link")
    page.wait_for_url("**/admin/two-factor/")
    assert page.locator(".two-factor-status").get_attribute("data-enabled") == "false"
    page.click("button[name=action][value=start]")
    page.locator(".qr-code svg").wait_for()
    secret = page.locator("code.secret").get_attribute("data-secret")
    screenshots(page, "setup")
    page.fill("#id_code", app_code(secret))
    page.click("#setup-form input[type=submit]")

    # Then it is on, and she sees her ten recovery codes once
    page.locator("ol.recovery-codes").wait_for()
    assert page.locator("ol.recovery-codes li").count() == 10
    screenshots(page, "recovery-codes")
    page.click("#recovery-codes-done")
    page.wait_for_load_state()
    assert page.locator(".two-factor-status").get_attribute("data-enabled") == "true"
    assert TOTPDevice.objects.get(user__username="claire").confirmed

    # When she logs out and in again
    page.click("#logout-form button[type=submit]")
    page.goto("/admin/login/")
    submit_login(page, "claire", PASSWORD)

    # Then, after the password, the login asks for the code
    page.wait_for_url("**/admin/login/code/")
    assert page.locator("#id_code").is_visible()
    screenshots(page, "code-asked")
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):  # the app's next code
        page.fill("#id_code", app_code(secret))
        page.click("#code-form input[type=submit]")
        page.wait_for_url(lambda url: "/admin/login/" not in url)

    # ...and she is in the back office
    assert "claire" in page.locator("#user-tools").inner_text().lower()
    screenshots(page, "signed-in")
