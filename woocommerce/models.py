"""The WooCommerce sync: shops, the webhook deliveries they send, and id mappings.

`WebhookDelivery` is both the audit log and the outbox: the receiver stores a
delivery before answering, a task processes it, and a periodic sweeper
re-enqueues whatever the broker lost. `WooMapping` links a WooCommerce id to
the CRM row it became and remembers the newest `date_modified_gmt` applied,
so older payloads arriving late change nothing. `WooOrder` keeps the shop's
orders; `WooRelatedOrder` says which subscriptions an order belongs to (one
initial order can start several subscriptions) and which charge it is for each.
`WooPreferenceMapping` says which of a shop's meta keys or attributes carry a
subscription preference.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.encryption import EncryptedTextField
from crm.models import Address, Customer, TenantModel
from preferences.models import PreferenceField
from subscriptions.models import Charge, Subscription
from woocommerce.client import validate_shop_url


class Resource(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    PRODUCT = "product", _("Product")
    VARIATION = "variation", _("Product variation")
    ORDER = "order", _("Order")
    SUBSCRIPTION = "subscription", _("Subscription")


# The Celery queue of each resource's deliveries: a burst of orders never
# delays customers, and each queue can be given its own workers.
QUEUES = {
    Resource.CUSTOMER: "woo_customers",
    Resource.PRODUCT: "woo_products",
    Resource.VARIATION: "woo_products",
    Resource.ORDER: "woo_orders",
    Resource.SUBSCRIPTION: "woo_subscriptions",
}


class WeightUnit(models.TextChoices):
    """WooCommerce's weight units (`woocommerce_weight_unit`), in grams per unit below."""

    KG = "kg", _("kg")
    G = "g", _("g")
    LBS = "lbs", _("lbs")
    OZ = "oz", _("oz")


GRAMS_PER_UNIT = {"kg": 1000, "g": 1, "lbs": 453.59237, "oz": 28.349523125}


class WooCommerceStore(TenantModel):
    """One WooCommerce shop of an organization, with its credentials."""

    name = models.CharField(_("name"), max_length=100)
    base_url = models.URLField(
        _("shop URL"),
        help_text=_("The shop's home address, e.g. https://shop.example.com"),
        # Checked again, with a lookup of the host, whenever the shop is reached.
        validators=[validate_shop_url],
    )
    uuid = models.UUIDField(_("webhook address key"), default=uuid.uuid4, unique=True)
    webhook_secret = EncryptedTextField(
        _("webhook secret"),
        blank=True,
        help_text=_("The secret set on the shop's webhooks; deliveries signed with it are kept."),
    )
    previous_webhook_secret = EncryptedTextField(
        _("previous webhook secret"),
        blank=True,
        help_text=_(
            "While rotating the secret, deliveries signed with this one are kept too. "
            "Clear it once every webhook of the shop uses the new secret."
        ),
    )
    consumer_key = EncryptedTextField(
        _("REST API consumer key"), blank=True, help_text=_("ck_…, read access is enough.")
    )
    consumer_secret = EncryptedTextField(_("REST API consumer secret"), blank=True)
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("An inactive shop's deliveries are refused and it is not reconciled."),
    )
    weight_unit = models.CharField(
        _("weight unit"),
        max_length=3,
        choices=WeightUnit.choices,
        default=WeightUnit.KG,
        help_text=_(
            "The shop's weight unit (WooCommerce > Settings > Products): how a product's or "
            "variation's weight is read."
        ),
    )
    last_reconciled_at = models.DateTimeField(
        _("last reconciled at"),
        null=True,
        blank=True,
        help_text=_("The next reconciliation asks for what changed since this time."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("WooCommerce shop")
        verbose_name_plural = _("WooCommerce shops")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="woocommerce_store_unique_name",
                violation_error_message=_("A shop with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def webhook_secrets(self) -> list[str]:
        return [s for s in (self.webhook_secret, self.previous_webhook_secret) if s]

    @property
    def has_rest_credentials(self) -> bool:
        return bool(self.consumer_key and self.consumer_secret)

    def webhook_path(self) -> str:
        return reverse("woocommerce-webhook", kwargs={"store_uuid": self.uuid})


@receiver(post_save, sender=WooCommerceStore)
@receiver(post_delete, sender=WooCommerceStore)
def _forget_cached_shop(sender, instance: WooCommerceStore, **kwargs) -> None:
    """The receiver caches each shop by its address key (woocommerce/shop_cache.py): a shop
    saved (a new secret, deactivated) or deleted is read again by the next delivery.

    Forgotten now and once committed: a request that read the old row meanwhile may
    have cached it again. (`QuerySet.update()` sends no signal: change a shop's secret
    or its `active` through `save()`; the cache's timeout bounds anything else.)
    """
    from woocommerce.shop_cache import forget_cached_shop

    forget_cached_shop(instance.uuid)
    transaction.on_commit(lambda: forget_cached_shop(instance.uuid))


class WebhookDelivery(TenantModel):
    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("Processing")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    #: Not yet applied: stored, queued or being processed (webhook health's "waiting").
    WAITING = (Status.RECEIVED, Status.QUEUED, Status.PROCESSING)

    store = models.ForeignKey(
        WooCommerceStore,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("shop"),
        # No index of its own: the unique (store, topic, body_sha256) index leads with it,
        # and every delivery's INSERT and status UPDATEs paid for a second one (issue 26).
        db_index=False,
    )
    topic = models.CharField(_("topic"), max_length=64)
    resource = models.CharField(_("resource"), max_length=32)
    event = models.CharField(_("event"), max_length=32)
    webhook_id = models.BigIntegerField(_("webhook id"), null=True, blank=True)
    delivery_id = models.CharField(_("delivery id"), max_length=64, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.BinaryField(_("body"))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Why it was ignored or failed (or its processing's note) as a code and its
    # parameters (woocommerce/reasons.py), shown in the reader's language; `error` keeps
    # the English text. Null for rows older than the codes and for unexpected exceptions,
    # whose technical text `error` holds.
    reason = models.JSONField(_("reason"), null=True, blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    woo_id = models.BigIntegerField(_("WooCommerce id"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "topic", "body_sha256"], name="webhook_delivery_unique_body"
            )
        ]
        indexes = [
            models.Index(
                fields=["updated_at"],
                name="webhook_delivery_unfinished",
                condition=models.Q(status__in=["received", "queued", "processing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"

    @property
    def queue(self) -> str:
        return QUEUES.get(self.resource, "default")

    def message(self) -> str:
        """Why it was ignored or failed (or its note), in the active language: its reason
        rendered when it has one, else its stored text (older rows, unexpected errors)."""
        from django.utils.translation import gettext, pgettext

        from woocommerce import reasons

        return reasons.render(self.reason, gettext, pgettext) if self.reason else self.error

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class WooMapping(TenantModel):
    """WooCommerce id -> CRM row, with the newest modification time applied."""

    store = models.ForeignKey(
        WooCommerceStore, on_delete=models.CASCADE, related_name="mappings", verbose_name=_("shop")
    )
    resource = models.CharField(_("resource"), max_length=16, choices=Resource.choices)
    woo_id = models.BigIntegerField(_("WooCommerce id"))
    object_id = models.BigIntegerField(_("CRM id"), null=True, blank=True)
    woo_modified_at = models.DateTimeField(
        _("WooCommerce modified at"),
        null=True,
        blank=True,
        help_text=_("A payload modified before this is older than what is applied: ignored."),
    )
    remote_status = models.CharField(_("WooCommerce status"), max_length=32, blank=True)
    deleted_upstream_at = models.DateTimeField(_("deleted in the shop at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("WooCommerce mapping")
        verbose_name_plural = _("WooCommerce mappings")
        ordering = ["store", "resource", "woo_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "resource", "woo_id"], name="woo_mapping_unique_id"
            )
        ]
        indexes = [models.Index(fields=["resource", "object_id"], name="woo_mapping_object")]

    def __str__(self) -> str:
        return f"{self.get_resource_display()} {self.woo_id}"


class WooOrder(TenantModel):
    """A shop order, kept for reference; a subscription's orders are also its charges.

    Which subscriptions it belongs to, and the charge it is for each, are its
    `WooRelatedOrder` rows (`links`).
    """

    class Kind(models.TextChoices):
        PARENT = "parent", _("Initial order")
        RENEWAL = "renewal", _("Renewal")
        SWITCH = "switch", _("Switch")
        RESUBSCRIBE = "resubscribe", _("Resubscription")
        OTHER = "other", _("Not a subscription order")

    store = models.ForeignKey(
        WooCommerceStore, on_delete=models.CASCADE, related_name="orders", verbose_name=_("shop")
    )
    woo_id = models.BigIntegerField(_("WooCommerce id"))
    number = models.CharField(_("number"), max_length=32, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.OTHER)
    status = models.CharField(_("WooCommerce status"), max_length=32, blank=True)
    customer = models.ForeignKey(
        Customer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="woo_orders",
        verbose_name=_("customer"),
    )
    billing_address = models.ForeignKey(
        Address,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("billing address"),
    )
    total = models.DecimalField(_("total"), max_digits=10, decimal_places=2, null=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    lines = models.JSONField(
        _("lines"),
        default=list,
        blank=True,
        help_text=_(
            "What each line cost, tax included, by WooCommerce product and variation: how an "
            "initial order's payment is shared between the subscriptions it started."
        ),
    )
    ordered_at = models.DateTimeField(_("ordered at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    deleted_upstream = models.BooleanField(_("deleted in the shop"), default=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("WooCommerce order")
        verbose_name_plural = _("WooCommerce orders")
        ordering = ["-ordered_at", "-woo_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "woo_id"], name="woo_order_unique_id")
        ]

    def __str__(self) -> str:
        return f"#{self.number or self.woo_id}"


class WooRelatedOrder(TenantModel):
    """An order of a subscription (WooCommerce Subscriptions' "related order"), and its charge.

    A renewal, switch or resubscribe order names its subscription; an initial
    order is named by its subscriptions (`parent_id`), and one checkout can
    start several, each paid its first cycle by that order. Written under the
    order's row lock, so whoever comes second (order or subscription) links them.
    """

    order = models.ForeignKey(
        WooOrder,
        on_delete=models.CASCADE,
        related_name="links",
        verbose_name=_("WooCommerce order"),
    )
    woo_subscription_id = models.BigIntegerField(_("WooCommerce subscription id"))
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="woo_orders",
        verbose_name=_("subscription"),
    )
    charge = models.OneToOneField(
        Charge,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="woo_order",
        verbose_name=_("charge"),
    )
    lines = models.JSONField(
        _("subscription's lines"),
        default=list,
        blank=True,
        help_text=_(
            "The subscription's lines as it last sent them (initial orders only): which lines "
            "of the order are its own."
        ),
    )

    class Meta:
        verbose_name = _("order of a subscription")
        verbose_name_plural = _("orders of subscriptions")
        ordering = ["order", "woo_subscription_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "woo_subscription_id"], name="woo_related_order_unique"
            )
        ]
        indexes = [
            models.Index(fields=["woo_subscription_id"], name="woo_related_order_subscription")
        ]

    def __str__(self) -> str:
        return f"{self.order} → {self.woo_subscription_id}"


class WooPreferenceMapping(TenantModel):
    """A shop's meta key or product attribute that carries one preference of its organization.

    Read by `woocommerce.preferences` from every subscription the shop sends.
    """

    store = models.ForeignKey(
        WooCommerceStore,
        on_delete=models.CASCADE,
        related_name="preference_mappings",
        verbose_name=_("shop"),
    )
    woo_key = models.CharField(
        _("WooCommerce key"),
        max_length=255,
        help_text=_(
            "A meta key of the subscription or of its line items, or a product attribute: "
            "its slug (pa_grind or grind) or its name as the shop shows it (Grind)."
        ),
    )
    field = models.ForeignKey(
        PreferenceField,
        on_delete=models.CASCADE,
        related_name="woo_mappings",
        verbose_name=_("preference"),
    )

    class Meta:
        verbose_name = _("preference from the shop")
        verbose_name_plural = _("preferences from the shop")
        ordering = ["store", "woo_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "woo_key"],
                name="woo_preference_mapping_unique_key",
                violation_error_message=_("This WooCommerce key is already mapped."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.woo_key} → {self.field.key}" if self.field_id else self.woo_key

    def clean(self) -> None:
        self.woo_key = (self.woo_key or "").strip()
        if self.store_id and not self.organization_id:
            self.organization_id = self.store.organization_id
        errors = {}
        if (
            self.store_id
            and self.field_id
            and self.field.organization_id != self.store.organization_id
        ):
            errors["field"] = _("Choose a preference of the shop's organization.")
        # Also checked here: the shop's inline leaves its foreign key out of the
        # constraint checks, so the unique constraint alone would fail as a 500.
        if (
            self.store_id
            and self.woo_key
            and WooPreferenceMapping.objects.filter(store_id=self.store_id, woo_key=self.woo_key)
            .exclude(pk=self.pk)
            .exists()
        ):
            errors["woo_key"] = _("This WooCommerce key is already mapped.")
        if errors:
            raise ValidationError(errors)
        super().clean()
