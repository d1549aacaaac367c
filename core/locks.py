"""Row locks: how a service re-reads the row it changes, and saves its state transition.

A service that changes a row re-reads it with its row lock (`SELECT … FOR UPDATE OF`
its own table: the rows joined for reading stay unlocked), held until the transaction
ends, so two changes of one row run one after the other. The models' state fields use
django-fsm's `ConcurrentTransitionMixin`: a save whose state changed underneath is
refused, which the lock makes unlikely but never silent (a 409, not a lost update).
"""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Model, QuerySet
from django_fsm import ConcurrentTransition

from core.errors import ConflictError

M = TypeVar("M", bound=Model)


def lock_row(rows: QuerySet[M], row: M | int) -> M:
    """`row` (an instance or its primary key) read again from `rows`, with its row lock."""
    return rows.select_for_update(of=("self",)).get(pk=getattr(row, "pk", row))


def save_transition(row: Model, *, changed: str, update_fields: list[str] | None = None) -> None:
    """Save `row`; a concurrent change of its state is a `ConflictError` saying `changed`."""
    try:
        row.save(update_fields=update_fields)
    except ConcurrentTransition as exc:
        raise ConflictError(str(changed)) from exc
