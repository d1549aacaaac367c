"""E-mails the portal sends a customer: sign-in codes and change confirmations.

Sent during the request once its transaction has committed (as Django's password reset
does), in the customer's language, and kept on the customer's page
(`crm.services.customer_email_record`, kind "portal"), with the error if delivery
failed: a confirmation that could not be sent never undoes the change it confirms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from core import clock
from crm.models import Customer, CustomerEmail
from crm.services import customer_email_record

logger = logging.getLogger(__name__)


def language_of(customer: Customer) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    for language in (customer.language, customer.organization.language, settings.LANGUAGE_CODE):
        if language and language.split("-")[0] in languages:
            return language.split("-")[0]
    return "en"


def send(
    *,
    customer: Customer,
    to: str,
    template: str,
    context: dict,
    subject: str,
    record: bool = True,
) -> None:
    """Render `portal/email/<template>.txt` (and `.html` if present) and send it after commit.

    `subject` is a lazy or plain string rendered in the customer's language.
    """

    def deliver() -> None:
        with translation.override(language_of(customer)):
            values = {"customer": customer, "organization": customer.organization, **context}
            text = render_to_string(f"portal/email/{template}.txt", values)
            message = EmailMultiAlternatives(str(subject), text, to=[to])
            try:
                html = render_to_string(f"portal/email/{template}.html", values)
            except Exception:
                html = ""
            if html:
                message.attach_alternative(html, "text/html")
            error = ""
            try:
                message.send()
            except Exception as exc:
                logger.warning("portal e-mail to customer %s failed: %s", customer.pk, exc)
                error = str(exc) or exc.__class__.__name__
            if record:
                customer_email_record(
                    customer=customer,
                    kind=CustomerEmail.Kind.PORTAL,
                    to=to,
                    subject=str(subject),
                    sent_at=clock.now(),
                    error=error,
                )

    transaction.on_commit(deliver)


def confirm(*, customer: Customer, subject: str, lines: Sequence[str], portal_url: str) -> None:
    """The confirmation of a change the customer made in the portal."""
    send(
        customer=customer,
        to=customer.email,
        template="confirmation",
        context={"lines": [str(line) for line in lines], "portal_url": portal_url},
        subject=subject,
    )
