"""How a subscriber wants the box made: the organization's schema and each subscription's values.

`PreferenceField` and `PreferenceChoice` are the schema one organization
defines (nothing in the code knows about grind or roast). Fields and choices
are retired (`active=False`), never deleted, so stored values and history keep
rendering. `SubscriptionPreference` holds one subscription's current values;
every write adds a `PreferenceChange` with the values before and after, who,
when, and the cycle it first counts for. Validation: `preferences.validation`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.translation import translated
from crm.models import ActorRecord, TenantModel
from preferences import validation
from subscriptions.models import Subscription

key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]*\Z",
    _("Lower-case letters, digits and underscores, starting with a letter."),
)


class PreferenceField(TenantModel):
    class Type(models.TextChoices):
        CHOICE = validation.CHOICE, _("One choice")
        MULTI_CHOICE = validation.MULTI_CHOICE, _("Several choices")
        BOOLEAN = validation.BOOLEAN, _("Yes / no")
        INTEGER = validation.INTEGER, _("Whole number")
        TEXT = validation.TEXT, _("Text")

    key = models.CharField(
        _("key"),
        max_length=50,
        validators=[key_validator],
        help_text=_("How the API and the shop name it, e.g. grind. Cannot change later."),
    )
    label = models.CharField(_("label"), max_length=100)
    labels = models.JSONField(
        _("translated labels"),
        default=dict,
        blank=True,
        help_text=_('Label per language code, e.g. {"en": "Grind"}.'),
    )
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    required = models.BooleanField(_("required"), default=False)
    default = models.JSONField(_("default"), null=True, blank=True)
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Retire a preference instead of deleting it: stored values stay readable."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    min_value = models.IntegerField(_("minimum"), null=True, blank=True)
    max_value = models.IntegerField(_("maximum"), null=True, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="preference_field_key_per_organization"
            ),
        ]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        return translated(self.label, self.labels)

    def spec(self, choices=None) -> validation.FieldSpec:
        """This field for `preferences.validation` (choices: this field's, prefetched)."""
        if choices is None:
            choices = self.choices.all()
        return validation.FieldSpec(
            key=self.key,
            label=self.display_label,
            type=self.type,
            choices=tuple(
                validation.ChoiceSpec(c.value, c.display_label, c.active) for c in choices
            ),
            required=self.required,
            default=self.default,
            active=self.active,
            min_value=self.min_value,
            max_value=self.max_value,
            max_length=self.max_length,
        )

    def clean(self) -> None:
        super().clean()
        errors = {}
        is_integer = self.type == self.Type.INTEGER
        if not is_integer and (self.min_value is not None or self.max_value is not None):
            errors["min_value"] = _("Only a whole-number preference has a minimum and maximum.")
        if (
            is_integer
            and self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            errors["max_value"] = _("The maximum is below the minimum.")
        if self.type != self.Type.TEXT and self.max_length is not None:
            errors["max_length"] = _("Only a text preference has a maximum length.")
        if errors:
            raise ValidationError(errors)


class PreferenceChoice(models.Model):
    field = models.ForeignKey(
        PreferenceField,
        on_delete=models.CASCADE,
        related_name="choices",
        verbose_name=_("preference"),
    )
    value = models.CharField(
        _("value"),
        max_length=50,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z",
                _("Letters, digits, '-', '_' and '.', e.g. espresso."),
            )
        ],
        help_text=_("What is stored and sent (e.g. espresso). Cannot change later."),
    )
    label = models.CharField(_("label"), max_length=100)
    labels = models.JSONField(_("translated labels"), default=dict, blank=True)
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("A retired choice stays readable where it was chosen but cannot be chosen."),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("choice")
        verbose_name_plural = _("choices")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["field", "value"], name="preference_choice_value"),
        ]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        return translated(self.label, self.labels)


class SubscriptionPreference(TenantModel):
    """One subscription's current values; written only by `preferences.services`."""

    subscription = models.OneToOneField(
        Subscription,
        on_delete=models.CASCADE,
        related_name="preference",
        verbose_name=_("subscription"),
    )
    values = models.JSONField(_("values"), default=dict, blank=True)
    shop_values = models.JSONField(
        _("values last received from the shop"),
        default=dict,
        blank=True,
        help_text=_(
            "A shop value is applied only when it differs from the one received before, "
            "so a change made here is not undone by the next unrelated webhook."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("subscription preferences")
        verbose_name_plural = _("subscription preferences")

    def __str__(self) -> str:
        return str(self.subscription)


class PreferenceChange(ActorRecord, TenantModel):
    """One write of a subscription's preferences, and the cycle it first counts for."""

    class Source(models.TextChoices):
        ADMIN = "admin", _("Back office")
        API = "api", _("API")
        WOOCOMMERCE = "woocommerce", _("WooCommerce")
        PORTAL = "portal", _("Customer portal")
        SYSTEM = "system", _("System")

    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.CASCADE,
        related_name="preference_changes",
        verbose_name=_("subscription"),
    )
    old_values = models.JSONField(_("before"), default=dict, blank=True)
    new_values = models.JSONField(_("after"), default=dict, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    changed_at = models.DateTimeField(_("time"), default=timezone.now)
    effective_cycle = models.DateField(
        _("first batch"), help_text=_("The cycle (cut-off date) this change first counts for.")
    )
    effective_cutoff_at = models.DateTimeField(_("first batch cut-off"))

    class Meta:
        verbose_name = _("preference change")
        verbose_name_plural = _("preference changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(
                fields=["subscription", "-changed_at", "-id"], name="preference_change_at"
            ),
        ]

    def __str__(self) -> str:
        # Shown above each row of the subscription page's history: the reader's words, not
        # the schema's keys (the row's "what changed" names the fields by their labels).
        return str(_("Preference change %(number)s") % {"number": self.pk})

    @property
    def changed_keys(self) -> list[str]:
        return validation.changed_keys(self.old_values, self.new_values)
