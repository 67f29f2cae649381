"""The expectations of each entity's batch, as plain data (no GX import).

Every rule comes from ``schemas.entities`` (required fields, natural key, enum values,
numeric bounds, field kinds) or from the shared rules in ``salesdw.validate`` (date
range, stage seed, cross-entity references); nothing is declared twice.
:mod:`salesdw.validate.expectations` turns the rules into GX expectations; ingestion's
process exports the columns they look at (:mod:`salesdw.validate.batches`), without
importing GX.

Each rule has a readable ``name`` (stored in ``meta.dq_results.expectation``, e.g.
``expect_column_values_to_not_be_null(order_date)``) and a ``severity``: ``critical``
(a failure is an error of the batch) or ``warning`` (cross-entity references: the result
is stored, the run is not failed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from salesdw.validate import (
    DATE_MAX,
    DATE_MIN,
    STAGE_FIELDS,
    reference_flag_column,
    referenced_key,
    stage_key_column,
)
from schemas.entities import (
    ENTITIES,
    accepted_values,
    date_order,
    field_bounds,
    field_kind,
    fields,
    natural_key,
    required_fields,
)

#: GX's ``FailureSeverity`` values
CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    """One expectation: the GX class (in ``great_expectations.expectations``), its
    arguments (``severity`` as text), its readable name and description."""

    expectation: str
    kwargs: dict[str, Any]
    name: str
    description: str

    @property
    def severity(self) -> str:
        return str(self.kwargs.get("severity", CRITICAL))

    @property
    def columns(self) -> list[str]:
        """The batch columns the expectation looks at."""
        if "column" in self.kwargs:
            return [self.kwargs["column"]]
        if "column_A" in self.kwargs:
            return [self.kwargs["column_A"], self.kwargs["column_B"]]
        return list(self.kwargs.get("column_list", []))


def _strict_bounds(entity: str, field: str) -> tuple[bool, bool]:
    """Whether the bounds of ``field_bounds`` are exclusive (gt / lt) rather than ge / le."""
    metadata = ENTITIES[entity].model_fields[field].metadata
    return (
        any(getattr(m, "gt", None) is not None for m in metadata),
        any(getattr(m, "lt", None) is not None for m in metadata),
    )


def _interval(lo: float | None, hi: float | None, strict_lo: bool, strict_hi: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if strict_lo else '≥'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if strict_hi else '≤'} {hi:g}")
    return " and ".join(parts)


def rules(
    entity: str,
    *,
    stage_labels: set[str] | frozenset[str] | None,
    references: set[str] | frozenset[str],
) -> list[Rule]:
    """The expectations of an entity's batch (see
    :func:`salesdw.validate.expectations.build_suite`)."""
    out: list[Rule] = []
    for f in required_fields(entity):
        out.append(
            Rule(
                "ExpectColumnValuesToNotBeNull",
                dict(column=f),
                f"expect_column_values_to_not_be_null({f})",
                f"`{f}` is required.",
            )
        )
    key = list(natural_key(entity))
    if len(key) == 1:
        out.append(
            Rule(
                "ExpectColumnValuesToBeUnique",
                dict(column=key[0]),
                f"expect_column_values_to_be_unique({key[0]})",
                f"`{key[0]}` identifies a record (natural key).",
            )
        )
    elif key:
        out.append(
            Rule(
                "ExpectCompoundColumnsToBeUnique",
                dict(column_list=key),
                f"expect_compound_columns_to_be_unique({', '.join(key)})",
                f"({', '.join(key)}) identifies a record (natural key).",
            )
        )
    for f in fields(entity):
        kind = field_kind(entity, f)
        if kind == "enum":
            values = list(accepted_values(entity, f))
            out.append(
                Rule(
                    "ExpectColumnValuesToBeInSet",
                    dict(column=f, value_set=values),
                    f"expect_column_values_to_be_in_set({f})",
                    f"`{f}` is one of {', '.join(values)}.",
                )
            )
        elif kind == "number":
            lo, hi = field_bounds(entity, f)
            if lo is None and hi is None:
                continue
            strict_lo, strict_hi = _strict_bounds(entity, f)
            out.append(
                Rule(
                    "ExpectColumnValuesToBeBetween",
                    dict(
                        column=f,
                        min_value=lo,
                        max_value=hi,
                        strict_min=strict_lo,
                        strict_max=strict_hi,
                    ),
                    f"expect_column_values_to_be_between({f})",
                    f"`{f}` is {_interval(lo, hi, strict_lo, strict_hi)}.",
                )
            )
        elif kind in ("date", "timestamp"):
            # batches come from DuckDB as datetime64 columns: compare with datetimes
            out.append(
                Rule(
                    "ExpectColumnValuesToBeBetween",
                    dict(
                        column=f,
                        min_value=dt.datetime.combine(DATE_MIN, dt.time()),
                        max_value=dt.datetime.combine(DATE_MAX, dt.time()),
                    ),
                    f"expect_column_values_to_be_between({f})",
                    f"`{f}` is a plausible date ({DATE_MIN} .. {DATE_MAX}).",
                )
            )
        ref = referenced_key(entity, f)
        if ref is not None and ref[0] in references:
            # the batch carries a derived column (a DuckDB semi join, added by the
            # runner): empty text where the id is a loaded key, the id where it is not,
            # null where there is no id. GX reports the unresolved ids as unexpected
            # values; the referenced keys are not copied into the suite, which would
            # grow with the referenced table.
            out.append(
                Rule(
                    "ExpectColumnValuesToBeInSet",
                    dict(
                        column=reference_flag_column(f),
                        value_set=[""],
                        severity=WARNING,
                    ),
                    f"expect_column_values_to_be_in_set({f} in {ref[0]}.{ref[1]})",
                    f"`{f}` resolves to a loaded `{ref[0]}.{ref[1]}` (warning only).",
                )
            )
    for earlier, later in date_order(entity):
        out.append(
            Rule(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                dict(
                    column_A=later,
                    column_B=earlier,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                f"expect_column_pair_values_a_to_be_greater_than_b({later}, {earlier})",
                f"`{later}` is not before `{earlier}`.",
            )
        )
    stage = STAGE_FIELDS.get(entity)
    if stage is not None and stage_labels is not None:
        out.append(
            Rule(
                "ExpectColumnValuesToBeInSet",
                dict(column=stage_key_column(stage), value_set=sorted(stage_labels), mostly=1.0),
                f"expect_column_values_to_be_in_set(lower(trim({stage})))",
                f"lower(trim(`{stage}`)) is a label of seeds/stage_mapping.csv.",
            )
        )
    return out


def rule_columns(entity_rules: list[Rule]) -> list[str]:
    """The columns a batch needs for ``entity_rules``, in order of first use."""
    out: list[str] = []
    for rule in entity_rules:
        out.extend(c for c in rule.columns if c not in out)
    return out
