"""Aggregates the practice figures compute in the database rather than over fetched rows:
percentiles and the seconds between two moments. PostgreSQL has them natively; SQLite gets a
Python aggregate registered on its connection, so both give the same answers."""

import math
from collections.abc import Sequence

from django.db.models import Aggregate, FloatField, Func, Value


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (fraction 0.5 = median of an odd count; for an even
    count the mean of the middle two), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if fraction == 0.5:
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class _SqlitePercentile:
    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction) -> None:
        if value is not None:
            self.values.append(value)
        self.fraction = fraction

    def finalize(self) -> float | None:
        return percentile(self.values, self.fraction)


class Percentile(Aggregate):
    """`Percentile(expression, 0.9)`: the median as `percentile_cont(0.5)` (the mean of the
    middle two of an even count) and any other fraction as the nearest rank
    (`percentile_disc`), as `percentile()` above computes them; None over no rows."""

    name = "Percentile"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        self.fraction = fraction
        super().__init__(expression, Value(fraction), **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        kind = "percentile_cont" if self.fraction == 0.5 else "percentile_disc"
        expression, fraction = self.get_source_expressions()[:2]
        sql, params = compiler.compile(expression)
        fraction_sql, fraction_params = compiler.compile(fraction)
        where = ""
        where_params: tuple = ()
        if self.filter is not None:
            filter_sql, filter_params = compiler.compile(self.filter)
            where, where_params = f" FILTER (WHERE {filter_sql})", tuple(filter_params)
        return (
            f"{kind}({fraction_sql}) WITHIN GROUP (ORDER BY ({sql})::double precision){where}",
            (*fraction_params, *params, *where_params),
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        connection.ensure_connection()
        connection.connection.create_aggregate("telehealth_percentile", 2, _SqlitePercentile)
        return super().as_sql(
            compiler, connection, function="telehealth_percentile", **extra_context
        )


class SecondsBetween(Func):
    """Seconds from `earlier` to `later` (two datetime columns or expressions), as a float."""

    output_field = FloatField()
    arity = 2

    def __init__(self, later, earlier, **extra):
        super().__init__(later, earlier, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django's own SQLite function: microseconds between two stored datetimes, exactly.
        return self.as_sql(
            compiler,
            connection,
            template="(django_timestamp_diff(%(expressions)s) / 1000000.0)",
            arg_joiner=", ",
            **extra_context,
        )
