"""Great Expectations suites from the rules of :mod:`salesdw.validate.rules`.

Each expectation carries in ``meta``:
- ``name``: the readable name stored in ``meta.dq_results.expectation``, e.g.
  ``expect_column_values_to_not_be_null(order_date)``;
and a GX ``severity``: ``critical`` (a failure is an error of the batch) or ``warning``
(cross-entity references: the result is stored, the run is not failed).
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.metadata_types import FailureSeverity

from salesdw.validate.rules import Rule, rules


def expectation(rule: Rule) -> Expectation:
    """The GX expectation of ``rule``."""
    kwargs = dict(rule.kwargs)
    if "severity" in kwargs:
        kwargs["severity"] = FailureSeverity(kwargs["severity"])
    exp: Expectation = getattr(gxe, rule.expectation)(**kwargs)
    exp.meta = {"name": rule.name}
    exp.description = rule.description
    return exp


def expectations(
    entity: str,
    *,
    stage_labels: set[str] | frozenset[str] | None,
    references: set[str] | frozenset[str],
) -> list[Expectation]:
    """The expectations of an entity's batch (see :func:`build_suite`)."""
    return [expectation(r) for r in rules(entity, stage_labels=stage_labels, references=references)]


def build_suite(
    entity: str,
    *,
    stage_labels: set[str] | frozenset[str] | None,
    references: set[str] | frozenset[str],
) -> gx.ExpectationSuite:
    """The GX suite of an entity's batch, derived from ``schemas.entities``
    (:func:`salesdw.validate.rules.rules`).

    - not null: every required field;
    - uniqueness of the natural key (one column: ``ExpectColumnValuesToBeUnique``,
      several: ``ExpectCompoundColumnsToBeUnique``);
    - accepted values of enum fields; declared bounds of numeric fields;
    - dates / timestamps between ``DATE_MIN`` and ``DATE_MAX``;
    - stage labels: the derived column ``_stage_key`` (= lower(trim(stage)), added by
      the export) in the seed's labels (skipped when ``stage_labels`` is None);
    - cross-entity ids: the derived column ``_<field>_resolves`` (added by the export:
      empty where the id is a key of the referenced raw table, else the id) is empty,
      for the referenced entities in ``references`` (those with loaded rows), with
      severity ``warning``.
    """
    # passed to the constructor: add_expectation() would need an active data context
    return gx.ExpectationSuite(
        name=entity,
        expectations=expectations(entity, stage_labels=stage_labels, references=references),
    )
