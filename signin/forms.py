from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class PasswordForm(AdminAuthenticationForm):
    """The admin's login form, saying why a right password does not open the back office.

    Django's says "enter the correct username and password for a staff account" to
    someone whose password is right but who has no staff status: they would try
    again, and lock themselves out. Staff status follows membership
    (crm.services.user_staff_status_sync), so such an account belongs to no
    organization: it is told so, and whom to ask.
    """

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "no_access": _(
            "This account does not belong to any organization, so it cannot open the back "
            "office. Ask an administrator of your organization to add you as a member."
        ),
    }

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)  # an inactive account
        if not user.is_staff:
            raise ValidationError(self.error_messages["no_access"], code="no_access")


class CodeForm(forms.Form):
    """A code from the authenticator app (six digits), or a recovery code."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "autocapitalize": "none"}
        ),
    )
