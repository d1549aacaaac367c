"""Hashes of inline <style> and <script> blocks, for the Content-Security-Policy header.

Our own templates have no inline script or style (static files instead). Two
templates we do not write have one inline <style> each: Django's change list
(when a list has no actions) and drf-spectacular's Swagger UI page. Rather than
allowing every inline style, the policy allows those blocks by their SHA-256,
computed here from the installed templates, so an upgrade that changes them
keeps working and no other inline style is ever allowed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path

INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

#: (package, template path inside it) of each third-party template with an inline <style>.
THIRD_PARTY_INLINE_STYLES = [
    ("django.contrib.admin", "templates/admin/change_list.html"),
    ("drf_spectacular", "templates/drf_spectacular/swagger_ui.html"),
]


def source_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline block."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def inline_style_hashes(templates=THIRD_PARTY_INLINE_STYLES) -> list[str]:
    hashes = []
    for package, template in templates:
        spec = importlib.util.find_spec(package)
        folder = Path(next(iter(spec.submodule_search_locations)))
        text = (folder / template).read_text(encoding="utf-8")
        hashes.extend(source_hash(block) for block in INLINE_STYLE.findall(text))
    return hashes


def allow_inline_blocks(response):
    """Allow the inline <style> and <script> blocks of this HTML answer, by their hashes.

    For the self-contained documents we serve (a batch's printable exports, which
    must open offline too): only these exact blocks run, nothing injected would.
    """
    html = response.content.decode(response.charset or "utf-8")
    update = {}
    if styles := [source_hash(block) for block in INLINE_STYLE.findall(html)]:
        update["style-src"] = styles
    if scripts := [source_hash(block) for block in INLINE_SCRIPT.findall(html)]:
        update["script-src"] = scripts
    if update:
        response._csp_update = update  # read by django-csp's middleware
    return response
