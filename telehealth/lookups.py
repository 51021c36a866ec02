"""`__in` on integer columns with values no column can hold.

Django already turns `pk=<huge>` into "matches nothing"; `pk__in=[<huge>]` still reaches the
driver, where SQLite raises OverflowError and PostgreSQL compares against a number no row can
have. A form posting ids (ModelMultipleChoiceField) then answers 500 instead of "not a valid
choice". Values outside the column's range are dropped, as `exact` treats them."""

from copy import copy
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import IntegerField
from django.db.models.lookups import In
from django.db.models.sql.compiler import SQLCompiler


@IntegerField.register_lookup
class IntegerFieldIn(In):
    def process_rhs(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, Any]:
        if self.rhs_is_direct_value():
            low, high = connection.ops.integer_field_range(
                self.lhs.output_field.get_internal_type()
            )
            kept = [
                value
                for value in self.rhs
                if not isinstance(value, int)
                or ((low is None or value >= low) and (high is None or value <= high))
            ]
            if len(kept) != len(self.rhs):
                narrowed = copy(self)
                narrowed.rhs = kept
                return In.process_rhs(narrowed, compiler, connection)
        return super().process_rhs(compiler, connection)
