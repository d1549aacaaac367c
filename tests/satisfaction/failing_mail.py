"""An e-mail backend whose server refuses everything: a mail server outside the product."""

from smtplib import SMTPRecipientsRefused

from django.core.mail.backends.base import BaseEmailBackend


class Backend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise SMTPRecipientsRefused({"someone@example.com": (550, b"refused")})
