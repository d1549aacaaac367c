"""An organization's e-mail texts: the placeholders they may hold, and filling them in."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

#: The placeholders a text may hold; anything else in braces is refused.
EMAIL_PLACEHOLDERS = ("first_name", "organization", "link")

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def email_text_problems(text: str, *, needs_link: bool) -> list[str]:
    """What is wrong with an organization's e-mail text (empty: nothing)."""
    problems = []
    unknown = sorted(
        {name for name in _PLACEHOLDER.findall(text) if name not in EMAIL_PLACEHOLDERS}
    )
    if unknown:
        problems.append(
            _("Unknown placeholder %(names)s. Use %(known)s.")
            % {
                "names": ", ".join(f"{{{name}}}" for name in unknown),
                "known": ", ".join(f"{{{name}}}" for name in EMAIL_PLACEHOLDERS),
            }
        )
    if needs_link and text.strip() and "{link}" not in text:
        problems.append(_("The text must hold {link}: without it the customer cannot answer."))
    return problems


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """`text` with {first_name}, {organization} and {link} replaced.

    A blank first name takes the space before it along ("Hello {first_name},"
    becomes "Hello,").
    """
    if not values.get("first_name"):
        text = re.sub(r" ?\{first_name\}", "", text)
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)
