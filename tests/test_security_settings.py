"""Production's security settings, and the Content-Security-Policy every page carries.

- `manage.py check --deploy` with production's settings prints no warning, run
  in a process of its own with the environment production needs;
- production's defaults: HSTS, TLS for e-mail, webhooks refused over plain HTTP,
  the proxy's HTTPS header trusted only when named;
- the CSP header on admin, staff and public pages (and, in a browser, that the
  policy is enforced and a violation is caught: the `page` fixture fails every
  browser test on one, tests/browser.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import _database_url_for_tests
from tests.satisfaction.test_browser import sent_survey

BASE_DIR = Path(__file__).resolve().parent.parent

#: What production is given (docs/operations.md): secrets, hosts, services.
PRODUCTION_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x8Vq2-production-like-secret-key-of-fifty-or-more-characters-Zk7",
    "ALLOWED_HOSTS": "backoffice.example.com",
    "ENCRYPTION_KEYS": "q0Xn3fOEyDd_tLx4uS8aVtq2e6WcQ5Hv1x1X0b3FJ8w=",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def production(*args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "EMAIL_", "WOOCOMMERCE_", "TEST_"))
    }
    env.update(PRODUCTION_ENVIRONMENT, DATABASE_URL=_database_url_for_tests(), **environment)
    return subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SETTINGS_SHOWN = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name, None) for name in (
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_PORT",
    "WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP", "DEBUG")}))
"""


def production_settings(**environment: str) -> dict:
    result = production("-c", SETTINGS_SHOWN, **environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_prints_no_warning_with_productions_settings():
    result = production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_productions_defaults_are_the_safe_ones():
    shown = production_settings()
    assert shown == {
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        # A client could send X-Forwarded-Proto itself: not trusted unless configured.
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_PORT": 587,
        "WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP": False,
        "DEBUG": False,
    }


def test_productions_security_settings_are_overridable_from_the_environment():
    shown = production_settings(
        SECURE_HSTS_SECONDS="0",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        EMAIL_USE_SSL="true",
        WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP="true",
    )
    assert shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (shown["EMAIL_USE_SSL"], shown["EMAIL_USE_TLS"], shown["EMAIL_PORT"]) == (
        True,
        False,
        465,
    )
    assert shown["WOOCOMMERCE_WEBHOOKS_ALLOW_HTTP"] is True


# --- The Content-Security-Policy header -----------------------------------------------------


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def assert_strict(response) -> None:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


@pytest.mark.django_db
def test_admin_and_staff_pages_carry_the_policy(staff_user_a, admin_client_for, org_a):
    assert_strict(Client().get("/admin/login/"))
    client = admin_client_for(staff_user_a)
    for path in ("/admin/", "/admin/crm/customer/", "/admin/two-factor/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)


@pytest.mark.django_db
def test_public_pages_carry_the_policy(org_a):
    survey = sent_survey(org_a)
    for path in (f"/s/{survey.token}/", "/api/docs/", "/healthz"):
        response = Client().get(path)
        assert response.status_code in (200, 503), path
        assert_strict(response)


def test_inline_styles_of_third_party_templates_are_allowed_by_hash_only():
    from core.csp import inline_style_hashes

    hashes = inline_style_hashes()
    assert len(hashes) == 2
    assert all(value.startswith("'sha256-") for value in hashes)
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src"] == ["'self'", *hashes]


# --- In the browser --------------------------------------------------------------------------


def test_the_browser_enforces_the_policy_and_the_fixture_catches_a_violation(page, csp_violations):
    # A page of ours: nothing reported
    page.goto("/admin/login/")
    assert csp_violations == []

    # When something injects an inline script, as an attacker's markup would...
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
    }"""
    )
    page.wait_for_timeout(200)

    # ...it does not run, and the violation is reported (which fails any browser test)
    assert page.evaluate("window.injected === undefined") is True
    assert any("script-src" in report for report in csp_violations), csp_violations
    csp_violations.clear()


def test_the_api_docs_work_under_the_policy(page):
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Cadence API" in page.locator(".swagger-ui .info .title").inner_text()


def test_the_dashboards_charts_and_the_language_switch_work_under_the_policy(page, screenshots):
    from tests.backoffice.test_weekly_routine import load_demo, log_in, switch_language

    # Given the demo, Marie on her dashboard
    load_demo()
    log_in(page, screenshots)

    # The charts are inline SVG: drawn, with their marks, and nothing refused
    for chart in (
        "#dashboard-subscriptions svg.subscribers-by-week",
        "#dashboard-satisfaction svg",
    ):
        box = page.locator(chart).first.bounding_box()
        assert box is not None, chart
        assert box["width"] > 100, chart
        assert box["height"] > 50, chart
    assert (
        page.locator(
            "#dashboard-subscriptions svg.subscribers-by-week rect, "
            "#dashboard-subscriptions svg.subscribers-by-week path, "
            "#dashboard-subscriptions svg.subscribers-by-week polyline"
        ).count()
        > 0
    )
    screenshots(page, "dashboard")

    # The header's language switch (a static script now) still sends its form
    switch_language(page, "fr")
    assert "Back-office des abonnements" in page.locator("#site-name").inner_text()
