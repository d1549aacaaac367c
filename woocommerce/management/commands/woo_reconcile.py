"""`manage.py woo_reconcile`: pull from the shops what their webhooks may have missed.

The same reconciliation as the hourly beat task (`woocommerce.reconcile_all`),
run by hand: for one shop (`--store`: its id, webhook address key or exact
name) or every active shop with REST API credentials, since the last run, since
a given instant (`--since`, a naive value is UTC) or from scratch (`--full`,
the first import of a live shop). A progress bar per shop goes to the error
output when it is a terminal (`--progress` / `--no-progress` to choose). Each
shop's summary is printed; the command fails when any shop reported an error
(its `last_reconciled_at` did not move if the shop could not be listed).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from tqdm import tqdm

from operations.progress import CommandStream, add_progress_arguments, wants_progress
from woocommerce.models import Resource, WooCommerceStore
from woocommerce.reconcile import reconcile

MAX_BIGINT = 2**63 - 1


def parse_since(value: str) -> datetime:
    """An ISO 8601 date or date-time as an aware datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            _(
                "--since: %(value)r is not an ISO date or date-time, "
                "e.g. 2025-03-01 or 2025-03-01T08:00:00+01:00."
            )
            % {"value": value}
        ) from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > timezone.now():
        raise CommandError(_("--since: %(value)s is in the future.") % {"value": value})
    return parsed


class _Progress:
    """One bar per shop, in pages; each resource adds its page count once it is known."""

    def __init__(self, label: str, stream: CommandStream, enabled: bool):
        self.label = label
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.bar = tqdm(desc=label, unit=_("page"), file=stream, disable=not enabled, leave=True)

    def __call__(self, resource: str, page: int, total: int) -> None:
        self.totals[resource] = max(total, page)
        self.done[resource] = page
        self.bar.total = sum(self.totals.values())
        self.bar.n = sum(self.done.values())
        try:
            name = Resource(resource).label
        except ValueError:
            name = resource
        self.bar.set_description(f"{self.label} · {name}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class Command(BaseCommand):
    @property
    def help(self) -> str:  # translated when asked for, in the active language
        return _(
            "Pull from the WooCommerce shops what their webhooks may have missed: customers, "
            "products, subscriptions and orders."
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "--store",
            help=_(
                "Only this shop: its id, webhook address key (UUID) or exact name. "
                "Default: every active shop with REST API credentials."
            ),
        )
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--since",
            help=_(
                "Ask for what changed since this ISO date or date-time (without an offset: "
                "UTC) instead of since the last reconciliation."
            ),
        )
        scope.add_argument(
            "--full",
            action="store_true",
            help=_(
                "List everything, whatever the last reconciliation (the first import of a "
                "live shop)."
            ),
        )
        add_progress_arguments(parser)

    def handle(self, *args, store=None, since=None, full=False, progress=None, **options):
        since_at = parse_since(since) if since is not None else None
        stores = self._stores(store)
        if not stores:
            self.stdout.write(
                _("No active WooCommerce shop has REST API credentials: nothing to reconcile.")
            )
            return
        progress = wants_progress(progress, self.stderr)
        failed = []
        for shop in stores:
            label = f"{shop.organization} · {shop}"
            self.stdout.write(self._scope(label, shop, since_at, full))
            bar = _Progress(label, CommandStream(self.stderr), progress)
            try:
                report = reconcile(shop, since=since_at, full=full, progress=bar)
            finally:
                bar.close()
            self.stdout.write(report.summary())
            for error in report.errors:
                self.stderr.write(
                    _("%(store)s: error: %(error)s") % {"store": label, "error": error}
                )
            if report.errors:
                failed.append(shop)
        if failed:
            raise CommandError(
                ngettext(
                    "%(count)d shop was not reconciled completely; see the errors above.",
                    "%(count)d shops were not reconciled completely; see the errors above.",
                    len(failed),
                )
                % {"count": len(failed)}
            )

    def _scope(self, label: str, shop: WooCommerceStore, since: datetime | None, full: bool):
        since = None if full else (since or shop.last_reconciled_at)
        if since is None:
            return _("%(store)s: everything") % {"store": label}
        return _("%(store)s: changes since %(since)s") % {
            "store": label,
            "since": since.astimezone(UTC).isoformat(timespec="seconds"),
        }

    def _stores(self, key: str | None) -> list[WooCommerceStore]:
        stores = WooCommerceStore.objects.select_related("organization").order_by(
            "organization__name", "name", "pk"
        )
        if key is None:
            return [s for s in stores.filter(active=True) if s.has_rest_credentials]
        key = key.strip()
        query = Q(name=key)
        if key.isdigit() and int(key) <= MAX_BIGINT:
            query |= Q(pk=int(key))
        with contextlib.suppress(ValueError):
            query |= Q(uuid=uuid.UUID(key))
        found = list(stores.filter(query))
        if not found:
            raise CommandError(
                _("No WooCommerce shop has the id, webhook address key or name %(store)r.")
                % {"store": key}
            )
        if len(found) > 1:
            raise CommandError(
                _("Several WooCommerce shops match %(store)r (ids %(ids)s); give the id instead.")
                % {"store": key, "ids": ", ".join(str(s.pk) for s in found)}
            )
        shop = found[0]
        if not shop.active:
            raise CommandError(
                _("The shop %(store)s is inactive; an inactive shop is not reconciled.")
                % {"store": shop}
            )
        if not shop.has_rest_credentials:
            raise CommandError(
                _("The shop %(store)s has no REST API consumer key and secret.") % {"store": shop}
            )
        return [shop]
