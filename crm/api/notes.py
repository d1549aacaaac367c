"""Staff notes over the API: `GET/POST .../{id}/notes/` on customers and subscriptions."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api.serializers import INVALID, NOT_FOUND, UNAUTHORIZED
from crm.models import NOTE_MAX_LENGTH


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=NOTE_MAX_LENGTH, help_text=_("The note (kept as written).")
    )


class NoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    author = serializers.CharField(
        source="actor_display", help_text=_("Who wrote it: a staff member or an API key.")
    )


def notes_action(*, read_doc: str, write_doc: str, write: Callable, notes_of: Callable):
    """A view set's `notes` action: its row's notes (newest first), or a new one (201).

    `write(row, text, actor)` writes through the app's service; `notes_of(row)` reads.
    """

    @extend_schema(
        methods=["GET"],
        filters=False,
        responses={200: NoteSerializer(many=True), **UNAUTHORIZED, **NOT_FOUND},
        description=read_doc,
    )
    @extend_schema(
        methods=["POST"],
        request=NoteInputSerializer,
        responses={201: NoteSerializer, **INVALID, **UNAUTHORIZED, **NOT_FOUND},
        description=write_doc,
    )
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, *args, **kwargs):
        row = self.get_object()
        if request.method == "POST":
            data = self._input(NoteInputSerializer)
            note = write(row, data["text"], self.actor)
            return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
        # Paginated like every list (`page`, `page_size`; 400 for a bad one).
        page = self.paginate_queryset(notes_of(row))
        return self.get_paginated_response(NoteSerializer(page, many=True).data)

    return notes
