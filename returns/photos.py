"""What a case's photo may be: its type read from its first bytes, its size, how many.

Pure (no Django): the portal's form and `returns.services.return_photos_add` both ask
it. The type is the content's, never the file name's nor the browser's word: a text
file renamed photo.jpg is no JPEG. Pillow is not a dependency; the three formats'
signatures are enough to refuse anything else, and nothing here decodes an image.
"""

from __future__ import annotations

#: At most this many photos per case.
PHOTOS_MAX = 3
#: At most this many bytes per photo (5 MiB).
PHOTO_MAX_BYTES = 5 * 1024 * 1024
#: How many first bytes `sniff` needs.
SNIFF_BYTES = 12

#: Accepted content types and the extension a stored photo gets.
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def sniff(head: bytes) -> str | None:
    """The content type of an image starting with `head` (JPEG, PNG, WebP), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= SNIFF_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
