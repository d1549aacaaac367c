"""Add and change pages written by a service: the form validates, the view calls the service.

The page-sized twin of `crm.fsm_admin`'s buttons. On a submission the model
admin's form checks what was typed and nothing more; once it is valid the view
calls `save_page` once, and `save_page` calls the service. A refusal
(`ApplicationError`) is put on the form by the code that called the service,
which raises `PageRefused`: the page is shown again with the error, and the
service, atomic, wrote nothing. No service is called from a form's `clean()`,
nothing is parked on the request, and no transaction is rolled back by hand.

For pages without editable inlines: the ones using it show read-only rows
below the form, or none.
"""

from __future__ import annotations

from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from crm.fsm_admin import form_errors, refusal_messages

#: The change page's titles as Django words them (`ModelAdmin._changeform_view`).
DJANGO_TITLES = {"add": "Add %s", "change": "Change %s"}


class PageRefused(Exception):
    """A service refused the page; its messages are already on the page's form."""


def show_refusal(form, error: ApplicationError) -> None:
    """A service's refusal on `form`: on the fields it names, else above the form."""
    if not form_errors(form, error):
        form.add_error(None, " ".join(refusal_messages(error)))


class ServicePageAdminMixin:
    """A `ModelAdmin` whose add and change submissions one `save_page` call writes."""

    def save_page(self, request, form, formsets, change: bool):
        """Call the service with `form.cleaned_data`; return the row it wrote.

        On a refusal, put it on `form` and raise `PageRefused`.
        """
        raise NotImplementedError

    def _changeform_view(self, request, object_id, form_url, extra_context):
        if request.method != "POST" or "_saveasnew" in request.POST:
            return super()._changeform_view(request, object_id, form_url, extra_context)
        # Django's submission of a change page (ModelAdmin._changeform_view, run inside
        # changeform_view's transaction), with the saving replaced by save_page.
        to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
        if to_field and not self.to_field_allowed(request, to_field):
            raise DisallowedModelAdminToField(f"The field {to_field} cannot be referenced.")
        add = object_id is None
        obj = None
        if add:
            if not self.has_add_permission(request):
                raise PermissionDenied
        else:
            obj = self.get_object(request, unquote(object_id), to_field)
            if obj is None:
                return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
        fieldsets = self.get_fieldsets(request, obj)
        form_class = self.get_form(
            request, obj, change=not add, fields=flatten_fieldsets(fieldsets)
        )
        form = form_class(request.POST, request.FILES, instance=obj)
        if form.is_valid():
            try:
                saved = self.save_page(request, form, [], change=not add)
            except PageRefused:
                pass
            else:
                message = self.construct_change_message(request, form, [], add)
                if add:
                    self.log_addition(request, saved, message)
                    return self.response_add(request, saved)
                self.log_change(request, saved, message)
                return self.response_change(request, saved)
        admin_form = helpers.AdminForm(
            form,
            list(fieldsets),
            self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        formsets, inline_instances = self._create_formsets(request, form.instance, change=not add)
        inline_formsets = self.get_inline_formsets(request, formsets, inline_instances, obj)
        media = self.media + admin_form.media
        for inline_formset in inline_formsets:
            media += inline_formset.media
        # Django's own titles, in Django's catalogue (a variable: not the project's to translate).
        title = _(DJANGO_TITLES["add" if add else "change"])
        context = {
            **self.admin_site.each_context(request),
            "title": title % self.opts.verbose_name,
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": IS_POPUP_VAR in request.POST or IS_POPUP_VAR in request.GET,
            "to_field": to_field,
            "media": media,
            "inline_admin_formsets": inline_formsets,
            "errors": helpers.AdminErrorList(form, formsets),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(
            request, context, add=add, change=not add, obj=obj, form_url=form_url
        )
