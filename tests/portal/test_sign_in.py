"""Signing in to the portal with the e-mailed code or link, the throttles, signing out.

Given a subscriber of organization A (alice@example.com), when they ask for a code, then
one e-mail carries a code and a link; either signs this browser in, once, for 15 minutes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import CustomerEmail
from portal.access import COOKIE
from portal.models import PortalSession, SignInRequest
from portal.views.account import SIGN_IN_COOKIE
from tests.portal.conftest import portal_url, signed_in_client

pytestmark = pytest.mark.django_db

CODE = re.compile(r"^\s+(\d{6})$", re.MULTILINE)
LINK = re.compile(r"(/p/[^/\s]+/sign-in/link/[^/\s]+/)")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def ask(client, organization, email, capture, **extra):
    """Post the e-mail on the sign-in page; the e-mails it sends are delivered."""
    with capture(execute=True):
        return client.post(portal_url(organization, "sign-in"), {"email": email, **extra})


def last_code_and_link(to):
    message = mail.outbox[-1]
    assert message.to == [to]
    return CODE.search(message.body).group(1), LINK.search(message.body).group(1)


def signed_in(client, organization) -> bool:
    return client.get(portal_url(organization, "home")).status_code == 200


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def test_sign_in_with_the_code_read_from_the_email(client, org_a, portal_customer_a, capture):
    asked = ask(client, org_a, "Alice@Example.com", capture)

    assert asked.status_code == 302
    assert asked["Location"] == portal_url(org_a, "sign-in-code")
    assert COOKIE not in asked.cookies
    assert len(mail.outbox) == 1
    code, _link = last_code_and_link("alice@example.com")
    assert code not in mail.outbox[0].subject
    recorded = CustomerEmail.objects.get(customer=portal_customer_a)
    assert recorded.kind == CustomerEmail.Kind.PORTAL
    assert code not in recorded.subject
    row = SignInRequest.objects.get()
    assert code not in (row.code_hash, row.token_hash)

    page = client.get(portal_url(org_a, "sign-in-code"))
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.content.decode()

    done = client.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert done.status_code == 302
    assert done["Location"] == portal_url(org_a, "home")
    assert done.cookies[COOKIE].value
    assert signed_in(client, org_a)
    assert PortalSession.objects.get().customer == portal_customer_a


def test_sign_in_with_the_link_needs_the_button(client, org_a, portal_customer_a, capture):
    ask(client, org_a, "alice@example.com", capture)
    code, link = last_code_and_link("alice@example.com")
    phone = Client()  # the link may be opened on another device than the one that asked

    page = phone.get(link)  # what a mail scanner's prefetch does
    assert page.status_code == 200
    assert "Sign in as a•••@example.com" in page.content.decode()
    assert COOKIE not in page.cookies
    assert SignInRequest.objects.get().used_at is None

    done = phone.post(link)
    assert done.status_code == 302
    assert done.cookies[COOKIE].value
    assert signed_in(phone, org_a)
    # Single use: the link, and the code of the same e-mail, are spent.
    assert phone.get(link).status_code == 404
    assert Client().post(link).status_code == 404
    assert client.post(portal_url(org_a, "sign-in-code"), {"code": code}).status_code == 400
    assert not signed_in(client, org_a)


def test_an_expired_code_or_link_signs_nobody_in(client, org_a, portal_customer_a, capture):
    ask(client, org_a, "alice@example.com", capture)
    code, link = last_code_and_link("alice@example.com")

    SignInRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = client.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert refused.status_code == 400
    assert "not valid any more" in refused.content.decode()
    assert COOKIE not in refused.cookies
    assert client.get(link).status_code == 404
    assert client.post(link).status_code == 404
    assert not signed_in(client, org_a)


def test_after_fifteen_minutes_the_browser_must_ask_again(
    client, org_a, portal_customer_a, capture
):
    ask(client, org_a, "alice@example.com", capture)
    code, link = last_code_and_link("alice@example.com")

    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        late = client.post(portal_url(org_a, "sign-in-code"), {"code": code})
        assert late.status_code == 302
        assert late["Location"] == portal_url(org_a, "sign-in")
        assert client.post(link).status_code == 404
    assert not signed_in(client, org_a)


def test_a_used_code_is_refused(client, org_a, portal_customer_a, capture):
    ask(client, org_a, "alice@example.com", capture)
    code, _link = last_code_and_link("alice@example.com")
    browser_request = client.cookies[SIGN_IN_COOKIE].value
    assert client.post(portal_url(org_a, "sign-in-code"), {"code": code}).status_code == 302

    again = Client()
    again.cookies[SIGN_IN_COOKIE] = browser_request
    refused = again.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert refused.status_code == 400
    assert COOKIE not in refused.cookies
    assert PortalSession.objects.count() == 1


def test_five_wrong_codes_kill_the_request(client, org_a, portal_customer_a, capture):
    ask(client, org_a, "alice@example.com", capture)
    code, link = last_code_and_link("alice@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    answers = [client.post(portal_url(org_a, "sign-in-code"), {"code": wrong}) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [400] * 5
    assert "4 tries left" in answers[0].content.decode()
    assert "not valid any more" in answers[4].content.decode()
    assert SignInRequest.objects.get().attempts == 5

    right = client.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert right.status_code == 400
    assert client.get(link).status_code == 404
    assert not signed_in(client, org_a)


def test_a_code_works_only_in_the_browser_that_asked(org_a, portal_customer_a, capture):
    asker, other = Client(), Client()
    ask(asker, org_a, "alice@example.com", capture)
    code, _link = last_code_and_link("alice@example.com")

    # Another browser without a request of its own is sent to ask first.
    no_request = other.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert no_request.status_code == 302
    assert no_request["Location"] == portal_url(org_a, "sign-in")
    # A forged cookie naming the asker's request is not signed.
    row = SignInRequest.objects.get()
    other.cookies[SIGN_IN_COOKIE] = str(row.pk)
    assert other.post(portal_url(org_a, "sign-in-code"), {"code": code}).status_code == 302
    # With a request of its own, the asker's code is a wrong code for it.
    ask(other, org_a, "alice@example.com", capture)
    refused = other.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert refused.status_code == 400
    assert not signed_in(other, org_a)
    # ... and the asker's request was not touched by it.
    row.refresh_from_db()
    assert row.attempts == 0
    assert row.used_at is None


def test_a_code_of_another_organization_is_refused(
    org_a, org_b, portal_customer_a, customer_b, capture
):
    client = Client()
    ask(client, org_b, "alice@example.com", capture)
    code, link = last_code_and_link("alice@example.com")

    assert client.get(link.replace(org_b.slug, org_a.slug)).status_code == 404
    assert client.post(link.replace(org_b.slug, org_a.slug)).status_code == 404
    # The browser's request of B is no request of A.
    answer = client.post(portal_url(org_a, "sign-in-code"), {"code": code})
    assert answer.status_code == 302
    assert not signed_in(client, org_a)


def _answer(client, organization, email, capture):
    asked = ask(client, organization, email, capture)
    page = client.get(asked["Location"])
    return asked, page


def _same(one, other):
    (asked_one, page_one), (asked_other, page_other) = one, other
    assert asked_one.status_code == asked_other.status_code == 302
    assert asked_one["Location"] == asked_other["Location"]
    assert asked_one.content == asked_other.content
    assert sorted(asked_one.cookies) == sorted(asked_other.cookies)
    assert page_one.status_code == page_other.status_code == 200
    assert CSRF.sub("", page_one.content.decode()) == CSRF.sub("", page_other.content.decode())


def test_an_unknown_email_is_answered_exactly_like_a_known_one(org_a, portal_customer_a, capture):
    known = _answer(Client(), org_a, "alice@example.com", capture)
    unknown = _answer(Client(), org_a, "nobody@example.com", capture)

    _same(known, unknown)
    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    # The same work in the request (the e-mail itself leaves after the answer's commit).
    counts = []
    for email in ("alice@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            Client().post(portal_url(org_a, "sign-in"), {"email": email})
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # A wrong code on either request is refused with the same words.
    refusals = []
    for email in ("alice@example.com", "nobody@example.com"):
        browser = Client()
        ask(browser, org_a, email, capture)
        refused = browser.post(portal_url(org_a, "sign-in-code"), {"code": "000000"})
        refusals.append((refused.status_code, CSRF.sub("", refused.content.decode())))
    assert refusals[0] == refusals[1]


def test_the_throttle_per_address_answers_the_same_and_sends_nothing(
    org_a, portal_customer_a, capture
):
    for _ in range(3):
        ask(Client(), org_a, "alice@example.com", capture)
        ask(Client(), org_a, "nobody@example.com", capture)
    assert len(mail.outbox) == 3

    fourth_known = _answer(Client(), org_a, "ALICE@example.com", capture)
    fourth_unknown = _answer(Client(), org_a, "nobody@example.com", capture)

    _same(fourth_known, fourth_unknown)
    assert len(mail.outbox) == 3
    assert SignInRequest.objects.count() == 6
    # Another address is not held back by it; the window passes.
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        ask(Client(), org_a, "alice@example.com", capture)
    assert len(mail.outbox) == 4


def test_the_throttle_per_client_counts_every_address(org_a, org_b, portal_customer_a, capture):
    crowded = Client(REMOTE_ADDR="203.0.113.7")
    for number in range(10):
        ask(crowded, org_b if number % 2 else org_a, f"guess{number}@example.com", capture)
    eleventh = ask(crowded, org_a, "alice@example.com", capture)

    assert eleventh.status_code == 302
    assert len(mail.outbox) == 0
    ask(Client(REMOTE_ADDR="198.51.100.2"), org_a, "alice@example.com", capture)
    assert len(mail.outbox) == 1


def test_a_malformed_email_is_shown_on_the_form(client, org_a):
    answer = client.post(portal_url(org_a, "sign-in"), {"email": "not an address"})
    assert answer.status_code == 400
    assert 'aria-describedby="email-errors"' in answer.content.decode()
    assert SignInRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("boxes", "boxes"),
        ("https://evil.example/p/{slug}/", "home"),
        ("//evil.example/p/{slug}/", "home"),
        ("/p/{other}/", "home"),
        ("/admin/", "home"),
    ],
)
def test_next_stays_inside_the_portal(org_a, org_b, portal_customer_a, capture, given, expected):
    client = Client()
    target = (
        portal_url(org_a, "boxes")
        if given == "boxes"
        else given.format(slug=org_a.slug, other=org_b.slug)
    )
    asked = ask(client, org_a, "alice@example.com", capture, next=target)
    code, _link = last_code_and_link("alice@example.com")
    done = client.post(asked["Location"], {"code": code, "next": target})
    assert done.status_code == 302
    assert done["Location"] == portal_url(org_a, expected)


def test_the_link_page_keeps_next_inside_the_portal(org_a, portal_customer_a, capture):
    ask(Client(), org_a, "alice@example.com", capture)
    _code, link = last_code_and_link("alice@example.com")
    done = Client().post(link, {"next": "https://evil.example/"})
    assert done["Location"] == portal_url(org_a, "home")


def test_sign_out_ends_this_session_only(org_a, portal_customer_a):
    here, elsewhere = signed_in_client(portal_customer_a), signed_in_client(portal_customer_a)

    confirm = here.get(portal_url(org_a, "sign-out"))
    assert confirm.status_code == 200
    assert signed_in(here, org_a)

    done = here.post(portal_url(org_a, "sign-out"))
    assert done.status_code == 302
    assert done["Location"] == portal_url(org_a, "sign-in")
    assert done.cookies[COOKIE].value == ""
    assert not signed_in(here, org_a)
    assert signed_in(elsewhere, org_a)


def test_sign_out_everywhere_ends_every_session(org_a, portal_customer_a, other_customer_a):
    here, elsewhere = signed_in_client(portal_customer_a), signed_in_client(portal_customer_a)
    someone_else = signed_in_client(other_customer_a)

    assert here.get(portal_url(org_a, "sign-out-everywhere")).status_code == 200
    done = here.post(portal_url(org_a, "sign-out-everywhere"))

    assert done.status_code == 302
    assert done.cookies[COOKIE].value == ""
    assert not signed_in(here, org_a)
    assert not signed_in(elsewhere, org_a)
    assert signed_in(someone_else, org_a)


def test_signing_out_needs_the_csrf_token(org_a, portal_customer_a):
    browser = signed_in_client(portal_customer_a)
    browser.handler.enforce_csrf_checks = True

    assert browser.post(portal_url(org_a, "sign-out")).status_code == 403
    assert browser.post(portal_url(org_a, "sign-out-everywhere")).status_code == 403
    assert signed_in(browser, org_a)


def test_the_email_speaks_the_customers_language(client, org_a, portal_customer_a, capture):
    portal_customer_a.language = "fr"
    portal_customer_a.save(update_fields=["language"])

    ask(client, org_a, "alice@example.com", capture)

    message = mail.outbox[0]
    assert message.subject == "Connexion à votre espace"
    assert "servent une seule fois, pendant 15 minutes" in message.body
    assert CODE.search(message.body)


def test_after_signing_out_the_sign_in_page_speaks_the_customers_language(org_a, portal_customer_a):
    portal_customer_a.language = "en"
    portal_customer_a.save(update_fields=["language"])
    client = signed_in_client(portal_customer_a)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"  # a French browser

    page = client.post(portal_url(org_a, "sign-out"), follow=True)

    text = page.content.decode()
    assert "You are signed out." in text
    assert '<html lang="en">' in text  # the page itself, not only its message
