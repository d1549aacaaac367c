"""The subscribers' own space: its settings per organization, sign-in codes and sessions.

A portal session is the customer's alone: a random key in its own cookie (scoped to the
organization's portal path), stored hashed here, never Django's staff session. Nothing a
portal session carries is a staff permission (portal/access.py).
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, Organization, TenantModel

colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour is written #RRGGBB, e.g. #2f6f4e."))


class PortalSettings(models.Model):
    """What an organization's subscribers may do in their portal (administrators decide)."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="portal_settings",
        verbose_name=_("organization"),
    )
    enabled = models.BooleanField(_("portal open"), default=True)
    name = models.CharField(
        _("portal name"),
        max_length=80,
        blank=True,
        help_text=_("Shown on every page; the organization's name when empty."),
    )
    primary_colour = models.CharField(
        _("main colour"), max_length=7, default="#2f6f4e", validators=[colour]
    )
    background_colour = models.CharField(
        _("background colour"), max_length=7, default="#f5f7fa", validators=[colour]
    )
    shop_account_url = models.URLField(
        _("shop account page"),
        blank=True,
        help_text=_(
            "Where subscribers of the WooCommerce shop manage billing, pauses and "
            "cancellation (e.g. https://shop.example/my-account/subscriptions/)."
        ),
    )
    allow_preferences = models.BooleanField(_("change preferences"), default=True)
    allow_address = models.BooleanField(_("change the shipping address"), default=True)
    allow_skip = models.BooleanField(_("skip or restore a delivery"), default=True)
    allow_pause = models.BooleanField(_("pause and resume"), default=True)
    allow_frequency = models.BooleanField(_("change the frequency"), default=True)
    allow_swap = models.BooleanField(_("swap a product or variant"), default=True)
    allow_cancel = models.BooleanField(_("cancel at the end of the period"), default=True)
    allow_cases = models.BooleanField(_("open an after-sales case"), default=True)
    allow_surveys = models.BooleanField(_("answer surveys"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("portal settings")
        verbose_name_plural = _("portal settings")

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.organization.name


class SignInRequest(TenantModel):
    """One e-mailed code and link. Only their hashes are kept; single use, short-lived."""

    email = models.EmailField(_("e-mail"))
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    client = models.CharField(_("client address"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in request")
        verbose_name_plural = _("sign-in requests")
        indexes = [
            models.Index(fields=["organization", "email", "created_at"]),
            # The throttle per client counts its requests in every organization.
            models.Index(fields=["client", "created_at"], name="portal_signin_client_idx"),
        ]

    def __str__(self) -> str:
        return self.email


class PortalSession(TenantModel):
    """A signed-in device of a customer: its cookie's key, hashed."""

    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="portal_sessions",
        verbose_name=_("customer"),
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    expires_at = models.DateTimeField(_("expires at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("portal session")
        verbose_name_plural = _("portal sessions")

    def __str__(self) -> str:
        return f"{self.customer_id} {self.created_at:%Y-%m-%d %H:%M}"
