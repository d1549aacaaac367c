"""Preference values checked against an organization's schema: pure, no Django.

The schema is a list of `FieldSpec` (built from the organization's
`PreferenceField` rows by `preferences.selectors`). `validate` returns the
complete new values of one subscription or raises `PreferenceErrors` naming
every field at fault; the caller writes nothing in that case.

Retired fields and choices: a value stored before a field or a choice was
retired stays as it is (it is history, and old snapshots must still render),
but it cannot be written anew. A write that repeats the stored value unchanged
is not a new write.

Errors carry a `code` and `params`; `message` is an English sentence for logs
and tests. The Django layer translates by code (`preferences.services`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CHOICE = "choice"
MULTI_CHOICE = "multi_choice"
BOOLEAN = "boolean"
INTEGER = "integer"
TEXT = "text"
TYPES = (CHOICE, MULTI_CHOICE, BOOLEAN, INTEGER, TEXT)

# Text a shop or a form sends for a boolean (lower-cased, stripped).
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on", "oui", "vrai"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off", "non", "faux"})

MESSAGES = {
    "unknown_field": "{field}: there is no such preference.",
    "retired_field": "{field}: this preference is retired and cannot be set any more.",
    "required": "{field}: a value is required.",
    "not_a_choice": "{field}: {value!r} is not one of the choices ({choices}).",
    "retired_choice": "{field}: the choice {value!r} is retired and cannot be chosen any more.",
    "not_a_list": "{field}: expected a list of choices.",
    "duplicate_choice": "{field}: {value!r} is listed twice.",
    "not_a_string": "{field}: expected text.",
    "not_a_boolean": "{field}: expected true or false.",
    "not_an_integer": "{field}: expected a whole number.",
    "too_small": "{field}: must be at least {minimum}.",
    "too_large": "{field}: must be at most {maximum}.",
    "too_long": "{field}: at most {max_length} characters.",
    "not_an_object": "Preferences must be an object of preference keys to values.",
}


@dataclass(frozen=True)
class ChoiceSpec:
    value: str
    label: str
    active: bool = True


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    type: str
    choices: tuple[ChoiceSpec, ...] = ()
    required: bool = False
    default: Any = None
    active: bool = True
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None

    def choice(self, value: Any) -> ChoiceSpec | None:
        return next((c for c in self.choices if c.value == value), None)

    def choice_values(self, *, active_only: bool = True) -> list[str]:
        return [c.value for c in self.choices if c.active or not active_only]


@dataclass(frozen=True)
class PreferenceError:
    key: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return MESSAGES[self.code].format(field=self.key, **self.params)


class PreferenceErrors(Exception):
    """One or more values were refused; nothing may be written."""

    def __init__(self, errors: Iterable[PreferenceError]):
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))

    def by_key(self) -> dict[str, list[PreferenceError]]:
        grouped: dict[str, list[PreferenceError]] = {}
        for error in self.errors:
            grouped.setdefault(error.key, []).append(error)
        return grouped


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_value(spec: FieldSpec, value: Any) -> tuple[Any, PreferenceError | None]:
    """`value` as stored for `spec`, or the error. Retired choices are refused."""

    def error(code: str, **params: Any) -> tuple[Any, PreferenceError]:
        return None, PreferenceError(spec.key, code, params)

    if spec.type == CHOICE:
        if not isinstance(value, str):
            return error("not_a_string")
        return _check_choice(spec, value, error)
    if spec.type == MULTI_CHOICE:
        if not isinstance(value, list):
            return error("not_a_list")
        seen: list[str] = []
        for item in value:
            if not isinstance(item, str):
                return error("not_a_list")
            if item in seen:
                return error("duplicate_choice", value=item)
            _, problem = _check_choice(spec, item, error)
            if problem:
                return None, problem
            seen.append(item)
        # A set of choices: kept in the schema's order, so another order is no change.
        return [value for value in spec.choice_values(active_only=False) if value in seen], None
    if spec.type == BOOLEAN:
        if not isinstance(value, bool):
            return error("not_a_boolean")
        return value, None
    if spec.type == INTEGER:
        # JSON true is an int in Python; 2.0 from a form is a whole number, 2.5 is not.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return error("not_an_integer")
        if isinstance(value, float):
            if not value.is_integer():
                return error("not_an_integer")
            value = int(value)
        if spec.min_value is not None and value < spec.min_value:
            return error("too_small", minimum=spec.min_value)
        if spec.max_value is not None and value > spec.max_value:
            return error("too_large", maximum=spec.max_value)
        return value, None
    if spec.type == TEXT:
        if not isinstance(value, str):
            return error("not_a_string")
        value = value.strip()
        if spec.max_length is not None and len(value) > spec.max_length:
            return error("too_long", max_length=spec.max_length)
        return value, None
    raise ValueError(f"unknown preference type {spec.type!r}")


def _check_choice(spec: FieldSpec, value: str, error) -> tuple[Any, PreferenceError | None]:
    choice = spec.choice(value)
    if choice is None:
        return error("not_a_choice", value=value, choices=", ".join(spec.choice_values()))
    if not choice.active:
        return error("retired_choice", value=value)
    return value, None


def resolve(schema: Iterable[FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the default of every active field that has none (stored values kept)."""
    resolved = dict(values)
    for spec in schema:
        if spec.active and is_empty(resolved.get(spec.key)) and not is_empty(spec.default):
            resolved[spec.key] = spec.default
    return resolved


def validate(
    schema: Iterable[FieldSpec],
    current: Mapping[str, Any],
    incoming: Any,
    *,
    partial: bool = True,
) -> dict[str, Any]:
    """The new values of a subscription after writing `incoming` over `current`.

    `partial`: keys not in `incoming` keep their current value; otherwise every
    active field not in `incoming` is reset (to its default, if any). A value
    of `None` (or an empty list or text) clears a field. Values of retired
    fields are always kept. Raises `PreferenceErrors` listing every problem.
    """
    schema = list(schema)
    if not isinstance(incoming, Mapping):
        raise PreferenceErrors([PreferenceError("", "not_an_object")])
    specs = {spec.key: spec for spec in schema}
    errors: list[PreferenceError] = []
    if partial:
        new = dict(current)
    else:
        new = {key: value for key, value in current.items() if not _active(specs, key)}
    for key, value in incoming.items():
        spec = specs.get(key)
        if spec is None:
            errors.append(PreferenceError(str(key), "unknown_field"))
            continue
        unchanged = key in current and current[key] == value
        if unchanged:  # not a new write, even of a retired field or choice
            new[key] = current[key]
            continue
        if not spec.active:
            errors.append(PreferenceError(key, "retired_field"))
            continue
        if is_empty(value):
            new.pop(key, None)
            continue
        checked, problem = check_value(spec, value)
        if problem:
            errors.append(problem)
        else:
            new[key] = checked
    new = resolve(schema, new)
    for spec in schema:
        missing = spec.active and spec.required and is_empty(new.get(spec.key))
        if missing and not any(e.key == spec.key for e in errors):
            errors.append(PreferenceError(spec.key, "required"))
    if errors:
        raise PreferenceErrors(errors)
    return new


def _active(specs: Mapping[str, FieldSpec], key: str) -> bool:
    spec = specs.get(key)
    return spec is not None and spec.active


def coerce_text(spec: FieldSpec, raw: Any, *, labels: Iterable[str] = ()) -> Any:
    """A value for `spec` from what a shop or a form sends as text.

    Choices match a value, or a label case-insensitively (`labels` are other
    texts to try, such as WooCommerce's `display_value`). Multi-choices split
    on commas or `|`. Returns the raw text when nothing matches, so that
    `validate` names the problem.
    """
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if spec.type == BOOLEAN:
        word = text.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return text
    if spec.type == INTEGER:
        try:
            return int(text)
        except ValueError:
            return text
    if spec.type == CHOICE:
        return _match_choice(spec, [text, *labels])
    if spec.type == MULTI_CHOICE:
        parts = [p.strip() for p in text.replace("|", ",").split(",") if p.strip()]
        return [_match_choice(spec, [part]) for part in parts]
    return text


def _match_choice(spec: FieldSpec, candidates: list[str]) -> str:
    for candidate in candidates:
        if spec.choice(candidate):
            return candidate
    for candidate in candidates:
        folded = candidate.strip().casefold()
        for choice in spec.choices:
            if folded in (choice.value.casefold(), choice.label.casefold()):
                return choice.value
    return candidates[0]


def display(spec: FieldSpec | None, value: Any) -> str:
    """A stored value as staff read it: choice labels, yes/no, lists joined.

    Works for retired fields and choices too (their labels are kept).
    """
    if spec is None:
        return _plain(value)
    if spec.type == CHOICE and isinstance(value, str):
        choice = spec.choice(value)
        return choice.label if choice else value
    if spec.type == MULTI_CHOICE and isinstance(value, list):
        return ", ".join(display(_single(spec), item) for item in value)
    if spec.type == MULTI_CHOICE and isinstance(value, str):  # one of its values alone
        return display(_single(spec), value)
    return _plain(value)


def _single(spec: FieldSpec) -> FieldSpec:
    return FieldSpec(key=spec.key, label=spec.label, type=CHOICE, choices=spec.choices)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
