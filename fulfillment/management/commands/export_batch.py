"""`manage.py export_batch <batch id> [--output file.zip]`: a batch's exports in one ZIP file.

The same ZIP as the batch page's "Prepare all exports (ZIP)" (pick list,
packing slips and production plan, each as CSV, printable HTML and PDF), built
here and now, in the language given (`--language`, default: the
organization's) and the organization's time zone. Without `--output` the file
is written in the current directory under its own name
(batch-2026-12-02-exports.zip). A progress bar over the steps goes to the
error output when it is a terminal (`--progress` / `--no-progress`).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fulfillment.models import Batch
from fulfillment.tasks import ARCHIVE_STEPS, batch_archive
from operations.models import STEP_LABELS
from operations.progress import add_progress_arguments, step_bar, wants_progress


class Command(BaseCommand):
    @property
    def help(self) -> str:  # translated when asked for, in the active language
        return _(
            "Write a batch's pick list, packing slips and production plan (CSV, printable "
            "pages and PDF) into one ZIP file."
        )

    def add_arguments(self, parser):
        parser.add_argument("batch", type=int, help=_("The batch's id."))
        parser.add_argument(
            "--output",
            "-o",
            help=_("The ZIP file to write. Default: its own name, in the current directory."),
        )
        parser.add_argument(
            "--language",
            help=_("The language of the labels. Default: the organization's."),
        )
        add_progress_arguments(parser)

    def handle(self, *args, batch, output=None, language=None, progress=None, **options):
        found = Batch.objects.select_related("organization").filter(pk=batch).first()
        if found is None:
            raise CommandError(_("No batch has the id %(id)s.") % {"id": batch})
        organization = found.organization
        bar = step_bar(
            f"{organization} · {found}",
            len(ARCHIVE_STEPS),
            self.stderr,
            wants_progress(progress, self.stderr),
            unit=_("step"),
        )

        def advance(done: int, total: int, step: str) -> None:
            bar.n = done
            bar.set_postfix_str(str(STEP_LABELS.get(step, step)), refresh=False)
            bar.refresh()

        try:
            with (
                translation.override(language or organization.language),
                timezone.override(organization.tzinfo),
            ):
                name, data = batch_archive(batch=found, progress=advance)
        finally:
            bar.close()
        path = Path(output) if output else Path(name)
        try:
            path.write_bytes(data)
        except OSError as error:
            raise CommandError(
                _("Could not write %(path)s: %(error)s") % {"path": path, "error": error}
            ) from None
        self.stdout.write(_("%(path)s: %(size)d bytes.") % {"path": path, "size": len(data)})
