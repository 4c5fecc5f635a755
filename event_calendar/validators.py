"""Value rules shared by the models (admin forms) and the wire parser."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Hex colours, CSS colour names and rgb()/hsl() functions: what a colour picker or a person writes,
# and nothing that could close a CSS declaration when the widget puts it in a style attribute.
_COLOR = re.compile(
    r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,32}|(?:rgb|rgba|hsl|hsla)\([0-9a-z.,%/ ]{1,64}\)",
)


def validate_color(value: str) -> None:
    if value and not _COLOR.fullmatch(value):
        raise ValidationError(_("Enter a CSS colour such as #5890DC."), code="invalid_color")


def validate_storable_text(value: str) -> None:
    """Refuse what a database cannot store: NUL characters (PostgreSQL) and lone surrogates."""
    if "\x00" in value:
        raise ValidationError(_("Null characters are not allowed."), code="null_characters_not_allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_("Text must be valid Unicode."), code="invalid_unicode") from None


def fits_64_bits(value: int) -> bool:
    """Whether an integer can be stored in a 64-bit column and written back to any JSON reader."""
    return -(2**63) <= value < 2**63


def validate_storable_json(value: Any, max_depth: int = 16) -> None:
    """Apply ``validate_storable_text`` to every key and string inside a JSON value, bounding its depth."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValidationError(_("The value is nested too deeply."), code="too_deep")
        if isinstance(item, str):
            validate_storable_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                validate_storable_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
