"""The cases' forms: the add form (what `return_open` takes) and the buttons' forms."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.admin_display import customer_label, person
from fulfillment.models import Shipment
from returns import services
from returns.models import ReturnRequest

Resolution = ReturnRequest.Resolution


def amount_text(value) -> str:
    """An amount without its currency, as the staff member's locale writes it."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


# --- Cases: the add form ----------------------------------------------------------------

# "COF-250 2", "COF-250 x 2" (or the multiplication sign).
ITEM_LINE = re.compile(r"(?P<sku>.+?)\s+(?:[x\u00d7]\s*)?(?P<quantity>\d+)")


def parse_items(text: str, box: list[dict[str, Any]]) -> list[dict[str, int]]:
    """The "SKU quantity" lines staff type, as the products (or variants: the box names a
    variant by its own SKU) of the box the service takes."""
    by_sku = {str(item.get("sku") or "").casefold(): item for item in box if item.get("sku")}
    chosen = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        match = ITEM_LINE.fullmatch(line)
        if match is None:
            raise ValidationError(
                _("Write each line as a SKU and a quantity, e.g. “%(example)s”: not “%(line)s”.")
                % {"example": example_line(box), "line": line}
            )
        item = by_sku.get(match["sku"].strip().casefold())
        if item is None:
            raise ValidationError(
                _("%(sku)s was not in this box, which held: %(items)s.")
                % {"sku": match["sku"].strip(), "items": box_text(box)}
            )
        chosen.append(
            {
                "product": item["product"],
                "variant": item.get("variant"),
                "quantity": int(match["quantity"]),
            }
        )
    return chosen


def box_text(box: list[dict[str, Any]]) -> str:
    """A box's content with the SKUs staff type: "2 x Coffee (COF-1), 1 x Filters (FIL)"."""
    return (
        ", ".join(
            f"{item.get('quantity')} x {item.get('name') or item.get('product')}"
            + (f" ({item['sku']})" if item.get("sku") else "")
            for item in box
        )
        or "-"
    )


def example_line(box: list[dict[str, Any]]) -> str:
    sku = next((item["sku"] for item in box if item.get("sku")), "COF-250")
    return f"{sku} 1"


def shipment_summary(shipment: Shipment) -> str:
    """What staff check before opening a case: who, when delivered, the window, the box."""
    organization = shipment.organization
    config = services.return_config_ensure(organization=organization)
    tz = organization.tzinfo
    last_day = services.window_last_day(config=config, shipment=shipment)
    today = timezone.now().astimezone(tz).date()
    if shipment.delivered_at:
        sent = _("delivered on %(date)s") % {
            "date": formats.date_format(shipment.delivered_at.astimezone(tz).date())
        }
    elif shipment.shipped_at:
        sent = _("shipped on %(date)s, never reported delivered") % {
            "date": formats.date_format(shipment.shipped_at.astimezone(tz).date())
        }
    else:
        sent = _("not shipped yet")
    if last_day is None:
        window = ""
    elif today > last_day:
        window = _(
            "The return window closed on %(date)s: accepting the request needs a reason below."
        ) % {"date": formats.date_format(last_day)}
    else:
        window = _("The return window is open until the end of %(date)s.") % {
            "date": formats.date_format(last_day)
        }
    return " ".join(
        part
        for part in (
            _("%(shipment)s to %(customer)s, %(sent)s.")
            % {
                "shipment": shipment,
                "customer": customer_label(shipment.customer),
                "sent": sent,
            },
            window,
            _("The box held: %(items)s.") % {"items": box_text(shipment.line.items or [])},
        )
        if part
    )


class ReturnOpenForm(forms.ModelForm):
    """What `return_open` takes; the organization is the shipment's."""

    items = forms.CharField(
        label=gettext_lazy("Items concerned"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=gettext_lazy(
            "One product per line: its SKU (a variant's own SKU for a product sold by "
            "variant) and the quantity, e.g. “COF-250 2”. Leave empty when the whole box is "
            "concerned."
        ),
    )
    override_reason = forms.CharField(
        label=gettext_lazy("Accepted outside the return window because"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=gettext_lazy(
            "Only needed outside the return window: why the request is accepted anyway. "
            "It is kept in the case's timeline."
        ),
    )

    class Meta:
        model = ReturnRequest
        fields = ["shipment", "reason", "description", "assignee"]
        help_texts = {
            "assignee": gettext_lazy("Leave empty for the organization's default assignee."),
        }

    def clean(self):
        cleaned = super().clean()
        shipment = cleaned.get("shipment")
        if shipment is not None and "items" not in self.errors:
            # The lines staff typed, as the service takes them.
            try:
                cleaned["chosen_items"] = parse_items(
                    cleaned.get("items", ""), shipment.line.items or []
                )
            except ValidationError as error:
                self.add_error("items", error)
        return cleaned


# --- Cases: the buttons' forms -------------------------------------------------------------


class CaseForm(forms.Form):
    """A button's form; `case` is the case acted on."""

    def __init__(self, *args, case=None, **kwargs):
        self.case = case
        super().__init__(*args, **kwargs)


class NoteForm(CaseForm):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Optional; kept in the timeline."),
    )


class ReasonForm(CaseForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class RejectForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service requires it and says so; the label shows it.
        self.fields["reason"].help_text = _("Required: what the customer is told.")


class CancelForm(ReasonForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].help_text = _("Optional, e.g. withdrawn by the customer.")


class ResolveForm(CaseForm):
    resolution = forms.ChoiceField(label=gettext_lazy("Resolution"), choices=Resolution.choices)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        required=False,
        max_digits=10,
        decimal_places=2,
        localize=True,
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, case=case, **kwargs)
        amount = self.fields["amount"]
        help_text = _("For a refund or a credit, in %(currency)s; ignored otherwise.") % {
            "currency": case.currency if case else ""
        }
        charge = case.line.charge if case is not None else None
        if charge is not None:
            refundable = charge.refundable
            help_text += " " + _(
                "The box's charge (%(amount)s %(currency)s) can still refund %(refundable)s."
            ) % {
                "amount": amount_text(charge.amount),
                "currency": charge.currency,
                "refundable": amount_text(refundable),
            }
            if refundable > 0:
                amount.initial = refundable
        amount.help_text = help_text

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("resolution") not in (Resolution.REFUND, Resolution.CREDIT):
            cleaned["amount"] = None  # the prefilled refund does not apply
        return cleaned


class ReassignForm(CaseForm):
    assignee = forms.ModelChoiceField(
        label=gettext_lazy("Assignee"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=gettext_lazy("Nobody"),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, case=case, **kwargs)
        field = self.fields["assignee"]
        if case is not None:
            field.queryset = services.assignable_users(organization_ids=[case.organization_id])
            field.initial = case.assignee_id
        field.label_from_instance = person


class AddNoteForm(CaseForm):
    text = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )
