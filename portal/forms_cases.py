"""The portal's after-sales and survey forms.

`CaseOpenForm` asks for a reason (the organization's list), the quantities of the box's
items concerned (none: the whole box), a description and up to three photos. Each photo
is checked by `returns.services.return_photo_check` (its type read from its content, its
size); a photo the upload handler stopped reading because it was too large arrives as a
name in `too_large` and is refused here too. The service checks everything again.
"""

from __future__ import annotations

from django import forms
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from returns import photos as photo_rules
from returns.services import return_photo_check
from satisfaction.services import COMMENT_MAX_LENGTH

DESCRIPTION_MAX_LENGTH = 2000
ACCEPT = ",".join(photo_rules.EXTENSIONS)


class PhotoSizeLimit(FileUploadHandler):
    """Stops reading an uploaded file past the photo limit: its bytes are thrown away as
    they arrive (never kept in memory or on disk) and its name lands in `too_large`."""

    def __init__(self, request=None):
        super().__init__(request)
        self.too_large: list[str] = []
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > photo_rules.PHOTO_MAX_BYTES:
            self.too_large.append(self.file_name or "")
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler keeps the file


class ErrorsDescribedMixin:
    """A field's errors are read with it: its input names them (and its help) in
    aria-describedby (templates/portal/cases/_field.html gives them these ids)."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                bound = self[name]
                ids = [f"{bound.auto_id}_errors"]
                if self.fields[name].help_text:
                    ids.append(f"{bound.auto_id}_helptext")
                self.fields[name].widget.attrs["aria-describedby"] = " ".join(ids)


class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Zero to `PHOTOS_MAX` files, as a list."""

    widget = MultiplePhotoInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        cleaned = []
        for file in files:
            if file:
                cleaned.append(super().clean(file, initial))
        return cleaned


class CaseOpenForm(ErrorsDescribedMixin, forms.Form):
    reason = forms.ModelChoiceField(
        label=gettext_lazy("What is wrong?"),
        queryset=None,
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose what is wrong.")},
    )
    description = forms.CharField(
        label=gettext_lazy("Tell us more (optional)"),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    photos = PhotosField(
        label=gettext_lazy("Photos (optional)"),
        required=False,
        help_text=gettext_lazy("Up to 3 photos, JPEG, PNG or WebP, 5 MB each at most."),
        widget=MultiplePhotoInput(attrs={"accept": ACCEPT}),
    )

    def __init__(self, *args, reasons, box_items, too_large=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.box_items = list(box_items or [])
        self.too_large = list(too_large)
        self.fields["reason"].queryset = reasons
        self.fields["reason"].label_from_instance = lambda reason: reason.display_label
        for index, item in enumerate(self.box_items):
            shipped = int(item.get("quantity") or 1)
            self.fields[f"item_{index}"] = forms.IntegerField(
                label=item.get("name") or item.get("sku") or _("Item"),
                required=False,
                min_value=0,
                max_value=shipped,
                initial=0,
                help_text=_("You received %(count)s.") % {"count": shipped},
            )

    def item_fields(self):
        return [self[f"item_{index}"] for index in range(len(self.box_items))]

    def clean_photos(self):
        files = self.cleaned_data.get("photos") or []
        problems = [
            _("%(name)s is larger than %(max)s MB, the most a photo may be.")
            % {"name": name or _("A file"), "max": photo_rules.PHOTO_MAX_BYTES // (1024 * 1024)}
            for name in self.too_large
        ]
        if len(files) + len(self.too_large) > photo_rules.PHOTOS_MAX:
            problems.append(
                _("At most %(count)s photos, please.") % {"count": photo_rules.PHOTOS_MAX}
            )
        for file in files:
            try:
                return_photo_check(file=file)
            except ApplicationError as error:
                problems.extend(error.extra.get("fields", {}).get("photos", [error.message]))
        if problems:
            raise forms.ValidationError(problems)
        return files

    def chosen_items(self) -> list[dict]:
        """The items the customer named, as `return_open` takes them (none: the whole box)."""
        chosen = []
        for index, item in enumerate(self.box_items):
            quantity = self.cleaned_data.get(f"item_{index}") or 0
            if quantity:
                chosen.append(
                    {
                        "product": item.get("product"),
                        "variant": item.get("variant"),
                        "quantity": quantity,
                    }
                )
        return chosen


class SurveyAnswerForm(ErrorsDescribedMixin, forms.Form):
    score = forms.TypedChoiceField(
        label=gettext_lazy("Score"),
        choices=[(score, str(score)) for score in range(11)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Pick a score from 0 to 10.")},
    )
    comment = forms.CharField(
        label=gettext_lazy("Anything to add? (optional)"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
