"""Fuzzing the portal's pages (issue 28: "schemathesis or an equivalent fuzz of the portal's
form endpoints finds no 5xx"). The portal is HTML forms, not an OpenAPI API: Hypothesis
plays the schema's part, from the forms themselves.

Every route of the `portal` namespace (read from the URL resolver as the isolation sweep
does: a new route is fuzzed without editing this file) is called with the signed-in
customer's own ids. For each, the page's GET is read first: its own forms' field names and
the values its radios, checkboxes, buttons and selects offer are what the examples post,
mixed with hostile values (empty, very long, unicode, NUL bytes, digits `int` refuses,
out-of-range numbers, malformed or far dates, lists where one value is expected, unknown
fields), multipart or url-encoded. The case form also gets odd files.

Checks, for every example:
- the status is one a page may answer (`ALLOWED`): never a 5xx;
- a POST to a page with inputs is never answered 200 (a refusal is a 400 or 409);
- an answer that is not a redirect wrote nothing (rows counted as the isolation sweep
  does, and the subscription's and the survey's own columns);
- a write comes with a redirect and a success message, from a form whose own fields held
  no NUL byte (Django's fields refuse them: a write with one skipped the form).

Also: bodies no form sends (only a page asking to confirm takes them, as its confirmation)
and methods no page takes, malformed ids, dates and tokens in the path, anonymous callers,
hostile cookies, the sign-in throttles under a stream of requests, CSRF refusals (403, not
500). The customer's rows are made once for the module, each test in a savepoint; the
examples of one test share its state (a pause one example made, the next one sees).
Bounded for CI: `EXAMPLES` per route, 10 (`PORTAL_FUZZ_EXAMPLES=200` for a hunt),
derandomized (the same examples every run), no shrinking, under a frozen clock.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
import time_machine
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from core.actors import Actor
from portal.access import COOKIE, customer_required
from portal.models import SignInRequest
from portal.services import THROTTLE_PER_ADDRESS, THROTTLE_PER_CLIENT, portal_session_start
from returns import services as returns
from satisfaction.models import SatisfactionSurvey
from satisfaction.services import satisfaction_config_ensure
from subscriptions.models import Subscription
from tests.factories import (
    OrganizationFactory,
    ProductFactory,
    SatisfactionSurveyFactory,
    coffee_schema,
    delivered_boxes,
    return_reason,
)
from tests.fixtures import rolled_back_afterwards
from tests.portal.conftest import portal_url, signed_in_client, subscriber
from tests.portal.test_isolation import WRITTEN, counts, portal_routes

pytestmark = pytest.mark.django_db

#: Examples per route and per kind of test; raise it for a longer hunt.
EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "10"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)

#: What a portal page may answer: a page, a redirect, a refusal (bad input, CSRF, not
#: found, not this method, a conflict with the data, a body too large). Never a 5xx.
ALLOWED = {200, 302, 400, 403, 404, 405, 409, 413}

#: A Tuesday morning in Paris, the day before the weekly cut-off (Wednesday 12:00).
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

ROUTES = portal_routes()
ROUTE_NAMES = [name for name, _params in ROUTES]
PARAMS = dict(ROUTES)


# --- What is posted --------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 5000,
    "é☕𝄞\u202e\ufeff",
    "<script>alert(1)</script>",
    "-1",
    "0",
    "1.5",
    "1e309",
    "NaN",
    "99999999999999999999",
    "9" * 5000,
    "²",  # a digit to str.isdigit(), not to int()
    "٣",
    "\uff11\uff12",  # fullwidth digits
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    "2026-12-31T25:00",
    "abc",
    "true",
    "null",
    "../../etc/passwd",
    "http://evil.example/",
    "//evil.example/",
]
ODD_TEXT = st.sampled_from(HOSTILE) | st.text(max_size=40)
#: Dates around now, as a date input sends them.
DATES = st.integers(min_value=-400, max_value=800).map(
    lambda days: (NOW.date() + timedelta(days=days)).isoformat()
)
#: Fields no form has (some are query parameters a page reads: `next`, `photo`).
UNKNOWN_FIELDS = ["unknown", "confirm", "next", "photo", "csrfmiddlewaretoken", "organization"]


class FormFields(HTMLParser):
    """The inputs of the page's own forms (those posting to the page itself, not the
    layout's language and sign-out forms): their names, the values their choices offer,
    and which are buttons."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fields: dict[str, set[str]] = {}
        self.dates: set[str] = set()
        self.buttons: set[str] = set()
        self._own = False
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            own_action = attrs.get("action") in (None, "", self.path)
            self._own = (attrs.get("method") or "").lower() == "post" and own_action
        if not self._own:
            return
        name = attrs.get("name")
        if tag in ("input", "textarea", "select", "button") and name:
            values = self.fields.setdefault(name, set())
            kind = attrs.get("type")
            if tag == "button" or kind in ("radio", "checkbox", "hidden", "submit"):
                values.add(attrs.get("value") or "")
            if tag == "button" or kind == "submit":
                self.buttons.add(name)
            if kind == "date":
                self.dates.add(name)
            if tag == "select":
                self._select = name
        if tag == "option" and self._select:
            self.fields[self._select].add(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "form":
            self._own = False

    @property
    def inputs(self) -> set[str]:
        """What the subscriber fills in (a page without any only asks to confirm)."""
        return set(self.fields) - self.buttons


def form_fields(response) -> FormFields:
    parser = FormFields(response.request["PATH_INFO"])
    parser.feed(response.content.decode(errors="replace"))
    parser.fields.pop("csrfmiddlewaretoken", None)
    return parser


@st.composite
def form_data(draw, page: FormFields, files: bool = False):
    """The page's fields, each left out, given a value it offers, or a hostile one; and
    unknown fields."""
    data: dict[str, object] = {}
    for name, offered in sorted(page.fields.items()):
        options = [ODD_TEXT, st.lists(ODD_TEXT, min_size=2, max_size=3)]
        if offered:
            options.insert(0, st.sampled_from(sorted(offered)))
        if name in page.dates:
            options.insert(0, DATES)
        value = draw(st.none() | st.one_of(*options))
        if value is not None:
            data[name] = value
    for name in draw(st.lists(st.sampled_from(UNKNOWN_FIELDS), max_size=2, unique=True)):
        data.setdefault(name, draw(ODD_TEXT))
    if files and draw(st.booleans()):
        data["photos"] = draw(st.lists(odd_files(), min_size=1, max_size=4))
    return data


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@st.composite
def odd_files(draw):
    name = draw(
        st.sampled_from(["photo.jpg", "", ".jpg", "a\x00.jpg", "é☕.png", "x" * 300 + ".jpg"])
        | st.text(min_size=1, max_size=20)
    )
    content = draw(st.sampled_from([JPEG, PNG, b"", b"GIF89a", b"not a photo"]) | st.binary())
    content_type = draw(st.sampled_from(["image/jpeg", "text/plain", "", "image/png\x00"]))
    return SimpleUploadedFile(name or "blank", content, content_type=content_type or None)


def send(client: Client, method: str, url: str, data: dict, encoding: str):
    """One request, a POST's body encoded as asked."""
    if method == "GET":
        return client.get(url, {k: v for k, v in data.items() if not isinstance(v, list | tuple)})
    if encoding == "multipart":
        return client.post(url, data)
    plain = {k: v for k, v in data.items() if k != "photos"}
    body = urlencode(plain, doseq=True)
    return client.post(url, body, content_type="application/x-www-form-urlencoded")


METHODS = st.sampled_from(["POST", "POST", "POST", "GET"])
ENCODINGS = st.sampled_from(["multipart", "urlencoded"])
#: Bodies no form sends, each with its content type.
ODD_BODIES = [
    (b"--x\r\nContent-Disposition: form-data\r\n\r\n\x00", "multipart/form-data; boundary=x"),
    (b"--x\r\n\r\n", "multipart/form-data"),  # no boundary given
    (b"\xff\xfe=%%&a=%zz", "application/x-www-form-urlencoded"),
    (b'{"reason": 1, "score": 10}', "application/json"),
    (b"\x00" * 64, "application/octet-stream"),
]


# --- The customer's world --------------------------------------------------------------------


class World:
    """Portal customer A's rows, one of each kind a route names, under the frozen clock."""

    def __init__(self, org):
        self.org = org
        self.customer, self.subscription = subscriber(org, "alice@example.com")
        address = self.customer.addresses.get()
        Subscription.objects.filter(pk=self.subscription.pk).update(shipping_address=address)
        coffee_schema(org)
        satisfaction_config_ensure(organization=org)  # made on first use: not a change
        ProductFactory(organization=org)  # something to swap to
        free, with_case = delivered_boxes(
            org, delivered_at=NOW - timedelta(days=5), count=2, customer=self.customer
        )
        self.case = returns.return_open(
            organization=org,
            shipment=with_case,
            reason=return_reason(org),
            actor=Actor.for_customer(self.customer),
            description="Torn bag",
        )
        self.survey = SatisfactionSurveyFactory(
            shipment=with_case,
            status="sent",
            sent_at=NOW - timedelta(days=1),
            expires_at=NOW + timedelta(days=10),
        )
        self.subscription.refresh_from_db()
        on = self.subscription.next_charge_at.astimezone(org.tzinfo).date()
        self.ids = {
            "subscription_id": self.subscription.pk,
            "shipment_id": free.pk,
            "case_id": self.case.pk,
            "survey_id": self.survey.pk,
            "on": on.isoformat(),
            "token": "not-a-token",
        }

    def url(self, name: str, **override) -> str:
        return portal_url(self.org, name, **{p: self.ids[p] for p in PARAMS[name]}, **override)

    def client(self) -> Client:
        """A browser signed in afresh (an earlier example may have signed out)."""
        return signed_in_client(self.customer)

    def state(self) -> tuple:
        """What a refused request must leave as it was."""
        subscription = Subscription.objects.filter(pk=self.subscription.pk).values().get()
        survey = SatisfactionSurvey.objects.filter(pk=self.survey.pk).values().get()
        for row in (subscription, survey):
            row.pop("updated_at", None)
        return row_counts(), subscription, survey


def row_counts() -> tuple[int, ...]:
    """The isolation sweep's `counts()` (the rows of every app a portal request may write),
    in one query: it runs twice per example."""
    models = [model for label in WRITTEN for model in apps.get_app_config(label).get_models()]
    quote = connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in models]
    sql = ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}")
        return tuple(cursor.fetchone())


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The world, made once for the module (each test runs in a savepoint inside it)."""
    with rolled_back_afterwards(django_db_blocker):
        with time_machine.travel(NOW, tick=False):
            world = World(OrganizationFactory(name="Fuzz Roasters", slug="fuzz"))
        assert row_counts() == tuple(counts().values())
        yield world


@pytest.fixture
def world(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with time_machine.travel(NOW, tick=False):
        yield seeded


def check(response, what: str) -> None:
    assert response.status_code in ALLOWED, f"{what}: {response.status_code}"


def has_nul(value) -> bool:
    """Whether the value a form's text field reads holds a NUL byte (of several values
    posted under one name, a single-value field reads the last; a multiple choice field
    takes only values it offers)."""
    if isinstance(value, list | tuple):
        return bool(value) and has_nul(value[-1])
    return isinstance(value, str) and "\x00" in value


def success_message(client: Client, response) -> bool:
    page = client.get(response["Location"], follow=True)
    return any(m.level_tag == "success" for m in page.context["messages"])


# --- Every route, signed in, with the customer's own ids -------------------------------------


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_no_request_to_a_portal_page_is_a_server_error(
    name, world, django_capture_on_commit_callbacks
):
    url = world.url(name)
    page = world.client().get(url)
    check(page, f"GET portal:{name}")
    fields = form_fields(page)

    @FUZZ
    @given(method=METHODS, encoding=ENCODINGS, data=form_data(fields, files=name == "case-open"))
    # What the fuzz found once, tried on every route every run: an empty POST (answered 200
    # by the schedule's forms), ids int() refuses (a 500 on a case's photo).
    @example(method="POST", encoding="multipart", data={})
    @example(method="GET", encoding="multipart", data={"photo": "²", "next": "²"})
    @example(method="GET", encoding="multipart", data={"photo": "9" * 5000})
    def fuzz(method, encoding, data):
        client = world.client()
        before = world.state()
        with django_capture_on_commit_callbacks(execute=True):
            response = send(client, method, url, data, encoding)
        what = f"{method} portal:{name} ({encoding}) {data!r:.300}"
        check(response, what)
        if method == "POST" and fields.inputs:
            # A form's page answers a post it refuses with 400 (or 409), never as a GET.
            assert response.status_code != 200, f"{what}: 200, as if nothing was posted"
        if world.state() == before:
            return
        assert method == "POST", f"{what} wrote"
        assert response.status_code == 302, f"{what} wrote, answering {response.status_code}"
        inputs = [value for key, value in data.items() if key in fields.inputs]
        assert not any(has_nul(value) for value in inputs), f"{what} wrote a NUL byte"
        assert success_message(client, response), f"{what} wrote without saying so"

    fuzz()


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_bodies_no_form_sends_and_methods_no_page_takes_are_refused(name, world):
    client = world.client()
    url = world.url(name)
    confirmation = not form_fields(client.get(url)).inputs
    for body, content_type in ODD_BODIES:
        before = world.state()
        response = client.post(url, body, content_type=content_type)
        what = f"POST portal:{name} {body[:20]!r}"
        check(response, what)
        if world.state() != before:
            # A page that only asks to confirm takes the POST as the confirmation.
            assert confirmation, f"{what} wrote"
            assert response.status_code == 302, f"{what} wrote, answering {response.status_code}"
        client = world.client()  # signed in again (sign-out takes any POST)
    before = world.state()
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
        response = client.generic(method, url, b"a=1")
        assert response.status_code == 405, f"{method} portal:{name}: {response.status_code}"
    assert world.state() == before


# --- Malformed ids and dates in the path -----------------------------------------------------

BAD_INT = ["0", "00", str(2**31), str(2**63), "9" * 30, "9" * 5000]
BAD_DAY = [
    "2026-02-30",
    "abc",
    "0001-01-01",
    "9999-12-31",
    "2026-13-01",
    "20261202",
    "2026-W49-3",
    "2026-12-02T10:00",
    "+2026-12-02",
    "٢٠٢٦-١٢-٠٢",
    "9" * 5000,
    " ",
    "%00",
    "%ED%A0%80",  # not UTF-8
    "%FF",
]
BAD_TOKEN = ["%00", "%ED%A0%80", "%FF", "%E2%98%95", "x" * 5000, "..", "%2F"]


def _routes_with(kind: str) -> list[str]:
    return [name for name, params in ROUTES if any(p.endswith(kind) for p in params)]


@pytest.mark.parametrize("name", [name for name, params in ROUTES if params])
def test_malformed_ids_and_dates_in_the_path_are_not_found(name, world):
    client = world.client()
    base = world.url(name)
    swept = 0
    for param in PARAMS[name]:
        own = str(world.ids[param])
        bad_values = {"on": BAD_DAY, "token": BAD_TOKEN}.get(param, BAD_INT)
        for bad in bad_values:
            # The own value's path segment, replaced (a converter refuses to reverse some).
            url = base.replace(f"/{own}/", f"/{bad}/", 1)
            before = world.state()
            for method in ("GET", "POST"):
                response = getattr(client, method.lower())(url, {"confirm": "1"})
                assert response.status_code in (404, 405), (
                    f"{method} portal:{name} with {param}={bad[:20]!r}: {response.status_code}"
                )
            assert world.state() == before
            swept += 1
    assert swept


def test_a_day_far_away_in_the_path_is_not_found(world):
    # `on` a date Python reads but the schedule never reaches.
    for name in _routes_with("on"):
        for day in (date.min, date.max, date(1970, 1, 1)):
            url = world.url(name).replace(f"/{world.ids['on']}/", f"/{day.isoformat()}/")
            assert world.client().get(url).status_code == 404
            assert world.client().post(url).status_code == 404


# --- Anonymous, other methods, cookies -------------------------------------------------------


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_anonymous_callers_are_sent_to_sign_in_or_answered(name, world):
    url = world.url(name)
    before = world.state()
    for method in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"):
        response = Client().generic(method, url, "email=a%40b.co&code=1", FORM)
        check(response, f"anonymous {method} portal:{name}")
        if _is_customer_page(response.resolver_match.func):
            assert response.status_code in (302, 405), f"{method} portal:{name}"
    assert world.state() == before


def _is_customer_page(view) -> bool:
    """Whether the view is behind `customer_required` (its wrapper, under the others)."""
    code = customer_required(lambda request: None).__code__
    while view is not None:
        if getattr(view, "__code__", None) is code:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


#: What a browser may send (a WSGI server hands Django latin-1 text only).
COOKIE_VALUES = ["", "\x00", "x" * 4000, "é\xff", "1:2:3", "null", "../", '"quoted"', "zz-ZZ"]


@pytest.mark.parametrize("cookie", [COOKIE, "cadence_portal_sign_in", "django_language"])
def test_hostile_cookies_are_no_server_error(cookie, world):
    for value in COOKIE_VALUES:
        client = world.client()
        client.cookies[cookie] = value
        for name in ("home", "sign-in", "sign-in-code", "preferences", "cases"):
            check(client.get(world.url(name)), f"GET portal:{name} with {cookie}={value!r:.20}")
            check(
                client.post(world.url(name), {"code": "123456", "email": "alice@example.com"}),
                f"POST portal:{name} with {cookie}={value!r:.20}",
            )


# --- Sign-in throttles under fuzz ------------------------------------------------------------

EMAILS = (
    st.sampled_from(["alice@example.com", "ALICE@example.com", "nobody@example.com"])
    | (st.emails().map(str))
    | ODD_TEXT
)


@FUZZ
@given(emails=st.lists(EMAILS, min_size=5, max_size=15), codes=st.lists(ODD_TEXT, max_size=8))
def test_sign_in_throttles_under_a_stream_of_requests_are_no_server_error(world, emails, codes):
    client = Client(REMOTE_ADDR="203.0.113.7")
    sessions = world.customer.portal_sessions.count()
    sign_in, code_url = world.url("sign-in"), world.url("sign-in-code")
    for email in emails:
        response = client.post(sign_in, {"email": email, "next": email})
        check(response, f"sign-in with {email!r:.40}")
        if response.status_code == 302:  # the same answer, throttled or not
            assert urlsplit(response["Location"]).path == code_url
    for code in [*codes, "000000", "999999", "12345", "1234567"]:
        response = client.post(code_url, {"code": code})
        check(response, f"code {code!r:.40}")
        assert response.status_code in (302, 400), code
        if response.status_code == 302:  # no request from this browser: ask for one
            assert urlsplit(response["Location"]).path == sign_in
    # The throttles held, however many examples asked (the clock is frozen).
    requests = SignInRequest.objects.filter(organization=world.org)
    assert requests.filter(email__iexact="alice@example.com").count() <= THROTTLE_PER_ADDRESS
    assert requests.filter(client="203.0.113.7").count() <= THROTTLE_PER_CLIENT
    assert world.customer.portal_sessions.count() == sessions  # no code guessed


# --- CSRF: refused with 403 ------------------------------------------------------------------


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_a_post_without_a_csrf_token_is_a_403(name, world):
    client = Client(enforce_csrf_checks=True)
    _session, key = portal_session_start(customer=world.customer)
    client.cookies[COOKIE] = key
    url = world.url(name)
    before = world.state()
    for body, content_type in [
        ({"confirm": "1", "csrfmiddlewaretoken": "x" * 64}, None),
        ({"confirm": "1", "csrfmiddlewaretoken": "\x00"}, None),
        (b"--x\r\nContent-Disposition: form-data\r\n\r\n\x00", "multipart/form-data; boundary=x"),
        (b"\xff\xfe=%%", "application/x-www-form-urlencoded"),
    ]:
        kwargs = {"content_type": content_type} if content_type else {}
        response = client.post(url, body, **kwargs)
        assert response.status_code == 403, f"POST portal:{name}: {response.status_code}"
    assert world.state() == before
