"""Admin buttons that act through services: a button opens a form, the form calls a service.

`ServiceActionsAdminMixin` builds on django-fsm-2's `FSMAdminMixin` (its
buttons beside "History" and its `<id>/transition/<name>/` URL) for a tenant
model admin whose rows change only through their services. An admin lists its
buttons in `admin_actions()` (name -> function(obj, actor, data) -> message);
a button is shown when the staff member may act on the row and the action is
possible now (an FSM transition's `can_proceed`, or `action_available` for a
button that is not a transition, such as a note). It opens a small form
(`fsm_forms`, or `default_action_form`) on `templates/admin/transition_form.html`;
submitting it calls the function, which calls the service. A refusal
(`ApplicationError`) comes back on the form's fields when they name them, and
otherwise as an error message on the row's page; either way nothing is written.
Opening the form of an action that is not possible now says so at once.

Dates on these pages are shown and entered in the row's organization's time.

`ServicePageAdminMixin` applies the same pattern to a whole change page: the
form and its inlines validate their input only; once all of it is valid the
view saves the page once (`save_page`, which calls the services) inside a
savepoint. A service's refusal is put on the page's forms by the code that
called it, which raises `PageRefused`: the savepoint is rolled back and the
page is shown again with the errors, nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.forms.formsets import all_valid
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed
from django_fsm.admin import FSMAdminMixin, FSMObjectTransition, FSMTransitionContext

from core.actors import Actor
from core.errors import ApplicationError

#: A button's work: call the service for `obj` with the form's data, say what happened.
AdminAction = Callable[[Any, Actor, dict[str, Any]], str]


def refusal_messages(error: ApplicationError) -> list[str]:
    """A service's refusal as sentences: its field messages, or else its message."""
    fields = error.extra.get("fields") or {}
    found = [str(message) for messages_ in fields.values() for message in messages_]
    return found or [error.message]


def form_errors(form: forms.Form, error: ApplicationError) -> bool:
    """Put the service's field errors on `form`; False if none names one of its fields."""
    fields = {
        name: messages_
        for name, messages_ in (error.extra.get("fields") or {}).items()
        if name in form.fields
    }
    for name, messages_ in fields.items():
        for message in messages_:
            form.add_error(name, message)
    return bool(fields)


class ObjectActionForm(forms.Form):
    """A confirmation with nothing to fill in; `obj` is the row acted on."""

    def __init__(self, *args, obj=None, **kwargs):
        self.obj = obj
        super().__init__(*args, **kwargs)


class ServiceActionsAdminMixin(FSMAdminMixin):
    """FSM buttons whose forms call services (see the module). For a `TenantAdmin`."""

    fsm_fields = ["status"]
    fsm_transition_form_template = "admin/transition_form.html"
    #: The form of an action absent from `fsm_forms` (and its transition's `custom["form"]`).
    default_action_form: type[forms.Form] = ObjectActionForm
    #: The keyword the forms take the row by (e.g. "subscription").
    action_form_object = "obj"
    #: Button labels by action name; a transition's `custom["label"]` otherwise.
    action_labels: dict[str, Any] = {}

    # --- What an admin says

    def admin_actions(self) -> dict[str, AdminAction]:
        """The buttons, in order: action name -> function(obj, actor, data) -> message."""
        return {}

    def may_act(self, request, obj) -> bool:
        """Whether the user may press the buttons of `obj`: staff of its organization."""
        return self._has(request, "change", obj)

    def actions_refused(self, obj) -> str | None:
        """Why nothing can be done on `obj` from this back office at all, or None."""
        return None

    def action_available(self, obj, name: str) -> bool:
        """Whether `name` is possible now; a transition asks django-fsm."""
        return can_proceed(getattr(obj, name))

    def not_possible_message(self, obj, label: str) -> str:
        return _("“%(action)s” is not possible now: it is %(status)s.") % {
            "action": label,
            "status": obj.get_status_display().lower(),
        }

    def describe_transition(self, obj, name: str) -> str:
        """A sentence at the top of the action's form: what will happen."""
        return ""

    def refusal_text(self, error: ApplicationError) -> str:
        """A refusal that fits no field of the form, as one message."""
        return " ".join(refusal_messages(error))

    @staticmethod
    def get_fsm_block_label(fsm_field_name: str) -> str:
        return _("Actions")

    # --- Labels and forms

    def _is_transition(self, obj, name: str) -> bool:
        return hasattr(getattr(type(obj), name, None), "_django_fsm")

    def get_fsm_label(self, transition) -> str:
        label = self.action_labels.get(transition.name)
        return str(label) if label is not None else super().get_fsm_label(transition)

    def action_label(self, obj, name: str) -> str:
        if name in self.action_labels or not self._is_transition(obj, name):
            return str(self.action_labels.get(name, name))
        return self.get_fsm_label(self._get_fsm_transition_by_name(obj=obj, transition_name=name))

    def action_form_class(self, obj, name: str) -> type[forms.Form]:
        form_class = self.fsm_forms.get(name)
        if form_class is None and self._is_transition(obj, name):
            transition = self._get_fsm_transition_by_name(obj=obj, transition_name=name)
            form_class = self.get_fsm_transition_form(transition)
        return form_class or self.default_action_form

    def service_action_form(self, request, obj, name: str) -> forms.Form:
        form_class = self.action_form_class(obj, name)
        data = request.POST if request.method == "POST" else None
        return form_class(data=data, **{self.action_form_object: obj})

    # --- URLs

    def _transition_url(self, obj, name: str) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_transition",
            kwargs={"object_id": obj.pk, "transition_name": name},
            current_app=self.admin_site.name,
        )

    def _change_url(self, obj) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    # --- django-fsm's hooks

    def _get_fsm_extra_context(self, *, request, obj):
        """The buttons: none for who may not act; only actions possible now."""
        if obj is None or not self.may_act(request, obj) or self.actions_refused(obj):
            return []
        actions = self.admin_actions()
        blocks = []
        for block in super()._get_fsm_extra_context(request=request, obj=obj):
            block.available_transitions = [
                t for t in block.available_transitions if t.name in actions
            ]
            if block.available_transitions:
                blocks.append(block)
        others = [
            FSMTransitionContext(name=name, label=self.action_label(obj, name))
            for name in actions
            if not self._is_transition(obj, name) and self.action_available(obj, name)
        ]
        if others:
            field = self.fsm_fields[0]
            blocks.append(
                FSMObjectTransition(
                    fsm_field=field,
                    block_label=self.get_fsm_block_label(fsm_field_name=field),
                    available_transitions=others,
                )
            )
        return blocks

    def response_change(self, request, obj):
        name = request.POST.get(self.fsm_post_param)
        if name:
            # Every action asks for confirmation on its own page.
            return HttpResponseRedirect(self._transition_url(obj, name))
        return super().response_change(request, obj)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        """django-fsm's hook, through the services (it would call the method and save)."""
        action = self.admin_actions().get(transition_name)
        if action is None or not self.may_act(request, obj):
            self.message_user(request, _("This action is not available."), messages.ERROR)
            return False
        try:
            message = action(obj, Actor.for_user(request.user), dict(kwargs or {}))
        except ApplicationError as error:
            self.message_user(request, self.refusal_text(error), messages.ERROR)
            return False
        self.message_user(request, message, messages.SUCCESS)
        return True

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        obj = self.get_object(request, unquote(object_id))
        action = self.admin_actions().get(transition_name)
        if action is None:
            raise Http404
        if not self.may_act(request, obj):
            raise PermissionDenied
        refused = self.actions_refused(obj)
        if refused:
            self.message_user(request, refused, messages.ERROR)
            return HttpResponseRedirect(self._change_url(obj))
        label = self.action_label(obj, transition_name)
        with timezone.override(obj.organization.tzinfo):
            if request.method != "POST" and not self.action_available(obj, transition_name):
                # Said at once; a submission is the service's to refuse.
                self.message_user(request, self.not_possible_message(obj, label), messages.ERROR)
                return HttpResponseRedirect(self._change_url(obj))
            form = self.service_action_form(request, obj, transition_name)
            if request.method == "POST" and form.is_valid():
                try:
                    message = action(obj, Actor.for_user(request.user), form.cleaned_data)
                except ApplicationError as error:
                    if not form_errors(form, error):
                        self.message_user(request, self.refusal_text(error), messages.ERROR)
                        return HttpResponseRedirect(self._change_url(obj))
                else:
                    self.message_user(request, message, messages.SUCCESS)
                    return HttpResponseRedirect(self._change_url(obj))
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": obj,
                "title": label,
                "subtitle": str(obj),
                "transition": {"name": transition_name, "label": label},
                "description": self.describe_transition(obj, transition_name),
                "transition_form": form,
                "media": self.media + form.media,
            }
            return TemplateResponse(request, self.fsm_transition_form_template, context).render()


# --- A change page saved by services ---------------------------------------------------


#: The change page's titles as Django words them (`ModelAdmin._changeform_view`).
DJANGO_TITLES = {"add": "Add %s", "change": "Change %s"}


class PageRefused(Exception):
    """A service refused the page; its messages are already on the page's forms."""


def show_refusal(form, error: ApplicationError) -> None:
    """A service's refusal on `form`: on the fields it names, else above the form."""
    if not form_errors(form, error):
        form.add_error(None, " ".join(refusal_messages(error)))


def add_formset_errors(formset, messages_: list[str]) -> None:
    """Messages above a validated formset's rows (its non-form errors)."""
    formset.non_form_errors().extend(messages_)


class ServicePageAdminMixin:
    """A change page whose validated input one `save_page` call writes (see the module).

    `save_page(request, form, formsets, change)` returns the row written; code in
    it that calls a service puts a refusal on the form or inline concerned and
    raises `PageRefused`. A formset's `saved_messages` (sentences saying what
    its service did) are shown once the whole page is saved.
    """

    def save_page(self, request, form, formsets, change: bool):
        """Django's saving by default; an admin whose page a service writes overrides it."""
        obj = self.save_form(request, form, change=change)
        self.save_model(request, obj, form, change)
        self.save_related(request, form, formsets, change)
        return obj

    def _changeform_view(self, request, object_id, form_url, extra_context):
        if request.method != "POST" or "_saveasnew" in request.POST:
            return super()._changeform_view(request, object_id, form_url, extra_context)
        # Django's submission of a change page (ModelAdmin._changeform_view), with the
        # saving replaced by save_page and its refusal shown on the page.
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
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            if obj is None:
                return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        fieldsets = self.get_fieldsets(request, obj)
        form_class = self.get_form(
            request, obj, change=not add, fields=flatten_fieldsets(fieldsets)
        )
        form = form_class(request.POST, request.FILES, instance=obj)
        formsets, inline_instances = self._create_formsets(request, form.instance, change=not add)
        form_valid = form.is_valid()
        if all_valid(formsets) and form_valid:
            try:
                with transaction.atomic(using=router.db_for_write(self.model)):
                    new_object = self.save_page(request, form, formsets, change=not add)
            except PageRefused:
                pass
            else:
                for formset in formsets:
                    for message in getattr(formset, "saved_messages", ()):
                        self.message_user(request, message, messages.SUCCESS)
                change_message = self.construct_change_message(request, form, formsets, add)
                if add:
                    self.log_addition(request, new_object, change_message)
                    return self.response_add(request, new_object)
                self.log_change(request, new_object, change_message)
                return self.response_change(request, new_object)
        context = self._page_context(
            request, form, formsets, inline_instances, obj, object_id, fieldsets, to_field
        )
        context.update(extra_context or {})
        return self.render_change_form(
            request, context, add=add, change=not add, obj=obj, form_url=form_url
        )

    def _page_context(
        self, request, form, formsets, inline_instances, obj, object_id, fieldsets, to_field
    ) -> dict:
        """The context Django gives a change page shown again with its errors."""
        add = obj is None
        admin_form = helpers.AdminForm(
            form,
            list(fieldsets),
            self.get_prepopulated_fields(request, obj),
            self.get_readonly_fields(request, obj),
            model_admin=self,
        )
        media = self.media + admin_form.media
        inline_formsets = self.get_inline_formsets(request, formsets, inline_instances, obj)
        for inline_formset in inline_formsets:
            media += inline_formset.media
        # Django's own titles, in Django's catalogue (a variable: not the project's to translate).
        title = _(DJANGO_TITLES["add" if add else "change"])
        return {
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
        }
