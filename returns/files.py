"""Streaming a case's photo to someone a view has already checked (staff of its
organization: returns.admin; the case's customer: the portal).

The photo goes out with the type its content was checked to be, inline, never cached
by a shared cache, and sandboxed: even a file that passed the check as an image is never
run as a page. Its name on disk is random; the download is named after the case.
"""

from __future__ import annotations

from django.http import FileResponse

from returns.models import ReturnPhoto
from returns.photos import EXTENSIONS


def photo_response(photo: ReturnPhoto) -> FileResponse:
    extension = EXTENSIONS.get(photo.content_type, "")
    response = FileResponse(
        photo.file.open("rb"),
        content_type=photo.content_type,
        as_attachment=False,
        filename=f"case-{photo.request_id}-photo-{photo.pk}{extension}",
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
