"""Great Expectations suites derived from the canonical entity models.

Every expectation comes from ``schemas.entities`` (required fields, natural key, enum
values, numeric bounds, field kinds) or from the shared rules in ``salesdw.validate``
(date range, stage seed, cross-entity references); nothing is declared twice.

Each expectation carries in ``meta``:
- ``name``: the readable name stored in ``meta.dq_results.expectation``, e.g.
  ``expect_column_values_to_not_be_null(order_date)``;
and a GX ``severity``: ``critical`` (a failure is an error of the batch) or ``warning``
(cross-entity references: the result is stored, the run is not failed).
"""

from __future__ import annotations

import datetime as dt

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

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
    field_bounds,
    field_kind,
    fields,
    natural_key,
    required_fields,
)


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


def _named(exp: Expectation, name: str, description: str) -> Expectation:
    exp.meta = {"name": name}
    exp.description = description
    return exp


def expectations(
    entity: str,
    *,
    stage_labels: set[str] | None,
    references: set[str],
) -> list[Expectation]:
    """The expectations of an entity's batch (see :func:`build_suite`)."""
    out: list[Expectation] = []
    for f in required_fields(entity):
        out.append(
            _named(
                gxe.ExpectColumnValuesToNotBeNull(column=f),
                f"expect_column_values_to_not_be_null({f})",
                f"`{f}` is required.",
            )
        )
    key = list(natural_key(entity))
    if len(key) == 1:
        out.append(
            _named(
                gxe.ExpectColumnValuesToBeUnique(column=key[0]),
                f"expect_column_values_to_be_unique({key[0]})",
                f"`{key[0]}` identifies a record (natural key).",
            )
        )
    elif key:
        out.append(
            _named(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=key),
                f"expect_compound_columns_to_be_unique({', '.join(key)})",
                f"({', '.join(key)}) identifies a record (natural key).",
            )
        )
    for f in fields(entity):
        kind = field_kind(entity, f)
        if kind == "enum":
            values = list(accepted_values(entity, f))
            out.append(
                _named(
                    gxe.ExpectColumnValuesToBeInSet(column=f, value_set=values),
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
                _named(
                    gxe.ExpectColumnValuesToBeBetween(
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
                _named(
                    gxe.ExpectColumnValuesToBeBetween(
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
                _named(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=reference_flag_column(f),
                        value_set=[""],
                        severity=FailureSeverity.WARNING,
                    ),
                    f"expect_column_values_to_be_in_set({f} in {ref[0]}.{ref[1]})",
                    f"`{f}` resolves to a loaded `{ref[0]}.{ref[1]}` (warning only).",
                )
            )
    stage = STAGE_FIELDS.get(entity)
    if stage is not None and stage_labels is not None:
        out.append(
            _named(
                gxe.ExpectColumnValuesToBeInSet(
                    column=stage_key_column(stage), value_set=sorted(stage_labels), mostly=1.0
                ),
                f"expect_column_values_to_be_in_set(lower(trim({stage})))",
                f"lower(trim(`{stage}`)) is a label of seeds/stage_mapping.csv.",
            )
        )
    return out


def build_suite(
    entity: str,
    *,
    stage_labels: set[str] | None,
    references: set[str],
) -> gx.ExpectationSuite:
    """The GX suite of an entity's batch, derived from ``schemas.entities``.

    - not null: every required field;
    - uniqueness of the natural key (one column: ``ExpectColumnValuesToBeUnique``,
      several: ``ExpectCompoundColumnsToBeUnique``);
    - accepted values of enum fields; declared bounds of numeric fields;
    - dates / timestamps between ``DATE_MIN`` and ``DATE_MAX``;
    - stage labels: the derived column ``_stage_key`` (= lower(trim(stage)), added by
      the runner) in the seed's labels (skipped when ``stage_labels`` is None);
    - cross-entity ids: the derived column ``_<field>_resolves`` (added by the runner:
      empty where the id is a key of the referenced raw table, else the id) is empty, for the referenced
      entities in ``references`` (those with loaded rows), with severity ``warning``.
    """
    # passed to the constructor: add_expectation() would need an active data context
    return gx.ExpectationSuite(
        name=entity,
        expectations=expectations(entity, stage_labels=stage_labels, references=references),
    )
