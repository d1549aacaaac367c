"""`field__any=[...]`: membership in a list sent as ONE array parameter.

`field__in=ids` sends one bind parameter per id; for the tens of thousands of
ids a batch lock reads, building and binding them costs seconds. `= ANY(%s)`
binds the list once (psycopg sends a PostgreSQL array), with the same plan.
Use it for large id lists; `__in` stays the choice for short ones.

A list of integers (ids) is sent as the array's text, `'{1,2,3}'`, which
PostgreSQL reads as an array of the column's type: psycopg's client-side
binding otherwise quotes the list item by item in Python (about 0.2 s for
100,000 ids, which a batch lock pays once per snapshot query).
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        values = list(value)
        if all(type(v) is int for v in values):  # not bool, not a subclass with its own str
            return "%s", ["{" + ",".join(map(str, values)) + "}"]
        return "%s", [values]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # foreign keys keep their own set of lookups
