"""Customer counts (docs/kpis.md): new_customers, active_customers, logo_churn_rate.

Definitions, with W = ``churn_window_days``:

- A *purchase* is an order that is not cancelled and whose net amount is positive; a
  return (negative net amount) or a cancelled order is never a purchase.
- A customer is *active on day d* if it has a purchase dated within the W days ending
  on d, d included: a purchase p with d - W < p <= d. "Active at period start" means
  active on the day before the period starts; "active at period end", active on the
  period's last day. For the open period (the one containing the as-of date) the last
  known day, ``as_of``, stands in for the period's last day: later days are unknown.
- ``new_customers`` = customers whose first purchase (over the customer's whole history
  up to ``as_of``) falls in the period. For a business without orders (no purchase at
  all in ``fct_orders``) the first won opportunity (by ``close_date``) stands in for the
  first purchase. A customer who churns and buys again is active again but never new
  again. Grain ``all`` = every customer with a first purchase up to ``as_of``.
- ``active_customers`` = customers active at period end (grain ``all``: on ``as_of``).
- ``logo_churn_rate`` = customers active at period start and not active at period end
  / customers active at period start (null when nobody was active at period start).

Dimensions: ``region`` is always the sales region (one vocabulary with every other
KPI): for ``new_customers`` the region of the new customer's first purchase (the
order's region, else its rep's; for a business without orders, the first won deal's),
for ``active_customers`` and ``logo_churn_rate`` the region of the customer's owner rep
(``dim_customer.owner_rep_id`` → ``dim_rep.region``), else the region of its latest
purchase up to as_of. ``customer_region`` is the customer's own geography
(``dim_customer.region``: province, state). ``segment`` and ``country`` are the
customer's; ``channel`` is the first purchase's channel for ``new_customers`` (with its
``rep`` and ``team``) and the acquisition channel (``dim_customer.channel``) for the
others. Orders without a customer id count for no customer KPI.

The module also holds the customer building blocks the other customer KPIs share
(revenue orders, purchases, first purchases, activity on a day). Their ``customer_id``
is whatever the inputs hold: the id, or, in inputs read from a warehouse, the customer's
integer key (``KpiInputs.customer_ids``); they only group, join and compare on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl

from kpis.inputs import KpiInputs
from kpis.periods import Grain, aggregate_by_period, period_grid, period_start
from kpis.registry import REGISTRY
from kpis.values import safe_ratio, to_kpi_values, with_dimensions
from schemas.config import KpiSettings

CUSTOMER_DIMENSIONS: dict[str, str] = {
    "segment": "segment",
    "country": "country",
    "channel": "channel",
    "region": "region",
    "customer_region": "customer_region",
}
#: the dimensions of new_customers: the first purchase's rep, team, region and channel
#: (kpis.targets.new_customer_events), the customer's segment, country and geography
NEW_CUSTOMER_DIMENSIONS: dict[str, str] = {
    "rep": "rep",
    "team": "team",
    "region": "region",
    "channel": "channel",
    "segment": "segment",
    "country": "country",
    "customer_region": "customer_region",
}
NEW_CUSTOMER_GRAINS: tuple[Grain, ...] = ("month", "quarter", "year", "all")
ACTIVITY_GRAINS: tuple[Grain, ...] = ("month", "quarter", "year")
PERIOD_KEYS: list[str] = ["grain", "period_start", "period_end"]
GROUP_KEYS: list[str] = [*PERIOD_KEYS, "dimension", "dimension_value"]
COUNT_SCHEMA: dict[str, pl.DataType] = {
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
}
_ATTRIBUTES: tuple[str, ...] = ("segment", "country", "channel", "customer_region")


# --- building blocks ---------------------------------------------------------------


def revenue_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders that count for revenue: not cancelled (returns included, they are negative).

    Columns: customer_id, order_date, net_amount (a missing amount counts as 0).
    """
    return orders.filter(~pl.col("is_cancelled").fill_null(False)).select(
        "customer_id",
        pl.col("order_date").cast(pl.Date),
        pl.col("net_amount").cast(pl.Float64).fill_null(0.0),
    )


def purchases(orders: pl.DataFrame) -> pl.DataFrame:
    """Purchases of known customers: not cancelled and net amount > 0.

    Columns: customer_id, order_date, net_amount.
    """
    return revenue_orders(orders).filter(
        pl.col("customer_id").is_not_null() & (pl.col("net_amount") > 0)
    )


def customer_attributes(inputs: KpiInputs) -> pl.DataFrame:
    """One row per customer: the current dim_customer rows plus customers seen in orders.

    Columns: customer_id, segment, country, channel (acquisition), customer_region
    (``dim_customer.region``, the customer's geography) and region (the sales region:
    the owner rep's region, else the region of the latest purchase up to as_of); null
    where unknown. Computed once per inputs.
    """
    return inputs.shared("customer_attributes", lambda: _customer_attributes(inputs))


def latest_purchase_regions(inputs: KpiInputs) -> pl.DataFrame:
    """The region of each customer's latest purchase up to as_of (the order's region,
    else its rep's: fct_orders.region; ties on a day by the highest order_id):
    customer_id, purchase_region."""
    return (
        inputs.orders.lazy()
        .filter(
            pl.col("customer_id").is_not_null()
            & ~pl.col("is_cancelled").fill_null(False)
            & (pl.col("net_amount").fill_null(0) > 0)
        )
        .group_by("customer_id")
        .agg(
            pl.col("region")
            .cast(pl.String)
            .sort_by("order_date", "order_id")
            .last()
            .alias("purchase_region")
        )
        .collect()
    )


def _customer_attributes(inputs: KpiInputs) -> pl.DataFrame:
    rep_regions = inputs.reps.select(
        pl.col("rep_id").cast(pl.String).alias("owner_rep_id"),
        pl.col("region").cast(pl.String).alias("owner_region"),
    ).unique("owner_rep_id", keep="first")
    dim = (
        inputs.customers.with_columns(pl.col("region").alias("customer_region"))
        .select(
            "customer_id",
            pl.col("owner_rep_id").cast(pl.String),
            *(pl.col(name).cast(pl.Categorical) for name in _ATTRIBUTES),
        )
        .filter(pl.col("customer_id").is_not_null())
        .unique(subset="customer_id", keep="first", maintain_order=True)
        .join(rep_regions, on="owner_rep_id", how="left", maintain_order="left")
        .drop("owner_rep_id")
    )
    seen = (
        inputs.orders.lazy()
        .select("customer_id")
        .drop_nulls()
        .unique()
        .join(dim.lazy(), on="customer_id", how="anti")
        .collect()
    )
    return (
        pl.concat([dim, seen], how="diagonal")
        .join(latest_purchase_regions(inputs), on="customer_id", how="left", maintain_order="left")
        .select(
            "customer_id",
            *_ATTRIBUTES,
            pl.coalesce("owner_region", "purchase_region").cast(pl.Categorical).alias("region"),
        )
    )


def first_purchase_dates(inputs: KpiInputs) -> pl.DataFrame:
    """Each customer's first purchase date up to as_of (column ``first_date``).

    For a business without orders (no purchase at all), the first won opportunity by
    close date (up to as_of) stands in for the first purchase. Computed once per inputs.
    """
    return inputs.shared("first_purchase_dates", lambda: _first_purchase_dates(inputs))


def _first_purchase_dates(inputs: KpiInputs) -> pl.DataFrame:
    bought = purchases(inputs.orders)
    if bought.height > 0:
        dated = bought.select("customer_id", pl.col("order_date").alias("first_date"))
    else:
        dated = inputs.opportunities.filter(
            pl.col("is_won").fill_null(False)
            & pl.col("customer_id").is_not_null()
            & (pl.col("close_date").cast(pl.Date) <= inputs.as_of)
        ).select(
            "customer_id",
            pl.col("close_date").cast(pl.Date).alias("first_date"),
        )
    return dated.lazy().group_by("customer_id").agg(pl.col("first_date").min()).collect()


def activity_spells(purchase_dates: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Each customer's spells of activity: the maximal runs of days on which it is active.

    A purchase on p makes its customer active from p through p + W - 1, so purchases at
    most W days apart belong to one spell. One row per spell: customer_id, spell_start
    (its first purchase: the first active day) and churn_day (its last purchase + W: the
    first day not active again). A customer is active on d iff one of its spells has
    spell_start <= d < churn_day.
    """
    days = (  # each customer's purchase days, in order, one customer after the other
        purchase_dates.lazy()
        .group_by("customer_id")
        .agg(pl.col("order_date").unique().sort())
        .explode("order_date")
    )
    gap = (pl.col("order_date") - pl.col("order_date").shift(1)).dt.total_days()
    new_spell = (
        (pl.col("customer_id") != pl.col("customer_id").shift(1)) | (gap > window_days)
    ).fill_null(True)
    return (
        days.with_columns(new_spell.cum_sum().alias("spell"))
        .group_by("spell")
        .agg(
            pl.col("customer_id").first(),
            pl.col("order_date").min().alias("spell_start"),
            (pl.col("order_date").max() + pl.duration(days=window_days)).alias("churn_day"),
        )
        .drop("spell")
        .collect()
    )


def active_on(spells: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Flag each (customer_id, day) of ``candidates`` with ``active``.

    Active on d = the customer's last spell started on or before d has not ended by d
    (churn_day > d): an as-of join (backward) of the days onto the spell starts.
    """
    return (
        candidates.sort("day")
        .join_asof(
            spells.select("customer_id", "spell_start", "churn_day").sort("spell_start"),
            left_on="day",
            right_on="spell_start",
            by="customer_id",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the date above
        )
        .with_columns((pl.col("churn_day") > pl.col("day")).fill_null(False).alias("active"))
        .drop("spell_start", "churn_day")
    )


def active_counts(
    spells: pl.DataFrame,
    attributes: pl.DataFrame,
    dimensions: Mapping[str, str],
    days: pl.DataFrame,
) -> pl.DataFrame:
    """Customers active on each ``day`` of ``days`` (dimension, dimension_value, day),
    as column ``active``.

    Active on d = spells started on or before d minus spells whose churn day is on or
    before d: a running sum of +1 at each spell_start and -1 at each churn_day, per
    dimension value, read on d. Summed per combination of attributes first, so that the
    work grows with the spells, not with customers x days.
    """
    columns = sorted(set(dimensions.values()))
    with_attributes = spells.join(attributes, on="customer_id", how="left")
    steps = (
        pl.concat(
            [
                with_attributes.select(
                    *columns, pl.col("spell_start").alias("day"), pl.lit(1).alias("step")
                ),
                with_attributes.select(
                    *columns, pl.col("churn_day").alias("day"), pl.lit(-1).alias("step")
                ),
            ]
        )
        .group_by([*columns, "day"])
        .agg(pl.col("step").sum())
    )
    running = (
        with_dimensions(steps, dict(dimensions))
        .group_by("dimension", "dimension_value", "day")
        .agg(pl.col("step").sum())
        .sort("day")
        .select(
            "dimension",
            "dimension_value",
            pl.col("day").alias("changed"),
            pl.col("step").cum_sum().over("dimension", "dimension_value").alias("active"),
        )
    )
    return (
        days.sort("day")
        .join_asof(
            running,
            left_on="day",
            right_on="changed",
            by=["dimension", "dimension_value"],
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the date above
        )
        .select(
            "dimension",
            "dimension_value",
            "day",
            pl.col("active").fill_null(0).cast(pl.Int64),
        )
    )


def evaluation_grid(grains: Sequence[Grain], first_day: dt.date, as_of: dt.date) -> pl.DataFrame:
    """The periods of ``grains`` with the days on which activity is evaluated.

    Columns: grain, period_start, period_end, start_day (the day before the period),
    end_day (the period's last day, or as_of for the open period).
    """
    grid = pl.concat([period_grid(first_day, as_of, grain) for grain in grains])
    return grid.with_columns(
        (pl.col("period_start") - pl.duration(days=1)).alias("start_day"),
        pl.min_horizontal(
            pl.col("period_end") - pl.duration(days=1), pl.lit(as_of, dtype=pl.Date)
        ).alias("end_day"),
    )


def dimension_values(
    attributes: pl.DataFrame, dimensions: Mapping[str, str], date: str
) -> pl.DataFrame:
    """The (dimension, dimension_value) pairs the rows of ``attributes`` take, each with
    ``first_seen``: its earliest ``date``."""
    columns = sorted(set(dimensions.values()))
    combos = attributes.group_by(columns).agg(pl.col(date).min())
    return (
        with_dimensions(combos, dict(dimensions))
        .group_by("dimension", "dimension_value")
        .agg(pl.col(date).min().alias("first_seen"))
    )


def count_customers(
    members: pl.DataFrame,
    attributes: pl.DataFrame,
    dimensions: Mapping[str, str],
    name: str,
) -> pl.DataFrame:
    """Count customers per period and dimension value.

    ``members`` holds (grain, period_start, period_end, customer_id) rows, one per
    customer and period. Counted per combination of attributes first, so that the
    dimensions multiply a small frame, not one row per customer.
    """
    columns = sorted(set(dimensions.values()))
    combos = (
        members.join(attributes, on="customer_id", how="left")
        .group_by([*PERIOD_KEYS, *columns])
        .agg(pl.len().cast(pl.Int64).alias(name))
    )
    return with_dimensions(combos, dict(dimensions)).group_by(GROUP_KEYS).agg(pl.col(name).sum())


def densify(grid: pl.DataFrame, dims: pl.DataFrame, parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Every period x dimension value, from the period in which the value is first seen
    (as ``periods.aggregate_by_period`` does), with the columns of ``parts`` (0 if absent).
    """
    frame = (
        grid.select(PERIOD_KEYS)
        .join(dims, how="cross")
        .filter(pl.col("period_end") > pl.col("first_seen"))
        .drop("first_seen")
    )
    for part in parts:
        frame = frame.join(part, on=GROUP_KEYS, how="left")
    counts = [c for part in parts for c in part.columns if c not in GROUP_KEYS]
    return frame.with_columns(pl.col(counts).fill_null(0))


# --- customer counts per period ----------------------------------------------------


def new_customer_counts(
    inputs: KpiInputs,
    grains: Sequence[Grain],
    dimensions: Mapping[str, str],
    first_day: dt.date | None = None,
) -> pl.DataFrame:
    """Per period and dimension value: ``new_customers`` (first purchase in the period).

    Every period from ``first_day`` (default: the first customer's first purchase) to the
    as-of date, 0 where none (``periods.aggregate_by_period``).
    """
    firsts = first_purchase_dates(inputs).join(
        customer_attributes(inputs), on="customer_id", how="left"
    )
    return aggregate_by_period(
        firsts,
        date="first_date",
        # one row per customer (first_purchase_dates, customer_attributes): the rows
        # are the distinct customers
        aggs=[pl.len().cast(pl.Int64).alias("new_customers")],
        dimensions=dimensions,
        as_of=inputs.as_of,
        first_day=first_day,
        grains=grains,
    ).with_columns(pl.col("new_customers").cast(pl.Int64))


def new_customer_rows(inputs: KpiInputs) -> pl.DataFrame:
    """One row per customer with a first purchase up to as_of: customer_id, first_date,
    the rep, team, region and channel of that first purchase (or first won deal; the
    order picked as kpis.targets.new_customer_events picks it) and the customer's
    segment, country and customer_region."""
    from kpis.targets import new_customer_events  # kpis.targets builds on this module

    first_order = (
        new_customer_events(inputs)
        .select(
            "customer_id",
            *(pl.col(name).cast(pl.String) for name in ("rep", "team", "region", "channel")),
        )
        .unique("customer_id", keep="first", maintain_order=True)
    )
    attributes = customer_attributes(inputs).select(
        "customer_id", "segment", "country", "customer_region"
    )
    return (
        first_purchase_dates(inputs)
        .join(first_order, on="customer_id", how="left")
        .join(attributes, on="customer_id", how="left")
    )


def new_customer_counts_by_first_purchase(
    inputs: KpiInputs, grains: Sequence[Grain] = NEW_CUSTOMER_GRAINS
) -> pl.DataFrame:
    """new_customers per period and value of ``NEW_CUSTOMER_DIMENSIONS``: customers whose
    first purchase falls in the period, by that purchase's rep, team, region and channel
    and by the customer's segment, country and customer_region."""
    return aggregate_by_period(
        new_customer_rows(inputs),
        date="first_date",
        aggs=[pl.len().cast(pl.Int64).alias("new_customers")],  # one row per customer
        dimensions=NEW_CUSTOMER_DIMENSIONS,
        as_of=inputs.as_of,
        grains=grains,
    ).with_columns(pl.col("new_customers").cast(pl.Int64))


def activity_counts(
    inputs: KpiInputs,
    settings: KpiSettings,
    grains: Sequence[Grain],
    dimensions: Mapping[str, str],
) -> pl.DataFrame:
    """Per period and dimension value: ``active_start``, ``active_end`` and ``churned``
    (active at period start and not active at period end).

    Dense: every period from the first purchase's to the as-of date, 0 where none.
    Counted from the customers' activity spells (``activity_spells``), so that the work
    grows with the purchases, not with customers x evaluation days.
    """
    bought = purchases(inputs.orders)
    if bought.height == 0:
        return pl.DataFrame(
            schema={
                **COUNT_SCHEMA,
                **dict.fromkeys(("active_start", "active_end", "churned"), pl.Int64()),
            }
        )
    attributes = customer_attributes(inputs)
    # each customer's first purchase (there are purchases, so these are the purchases'
    # first dates), computed once for all callers
    firsts = first_purchase_dates(inputs)
    first_day = firsts["first_date"].min()
    assert isinstance(first_day, dt.date)
    grid = evaluation_grid(grains, first_day, inputs.as_of)
    dims = dimension_values(attributes.join(firsts, on="customer_id"), dimensions, "first_date")
    window = settings.churn_window_days
    spells = inputs.shared(("activity_spells", window), lambda: activity_spells(bought, window))

    days = pl.concat([grid["start_day"], grid["end_day"]]).unique().to_frame("day")
    active = active_counts(  # on every evaluation day, for every dimension value
        spells, attributes, dimensions, days.join(dims.drop("first_seen"), how="cross")
    )
    at_start = grid.join(active, left_on="start_day", right_on="day").select(
        *GROUP_KEYS, pl.col("active").alias("active_start")
    )
    at_end = grid.join(active, left_on="end_day", right_on="day").select(
        *GROUP_KEYS, pl.col("active").alias("active_end")
    )

    # Churned in a period = active on its start day and not on its end day: the spell
    # holding the start day (spell_start <= start_day) ends within the period (its
    # churn day falls in it; one period per grain) and no later spell holds the end day
    # (checked with active_on). Only spells that ended by as_of can churn anyone.
    ended = spells.filter(pl.col("churn_day") <= inputs.as_of)
    candidates = pl.concat(
        [
            ended.select(
                "customer_id",
                "spell_start",
                pl.lit(grain, dtype=pl.String).alias("grain"),
                period_start("churn_day", grain, first_day).alias("period_start"),
            )
            for grain in grains
        ]
    )
    churn_checks = candidates.join(grid, on=["grain", "period_start"]).filter(
        pl.col("spell_start") <= pl.col("start_day")
    )
    churned = active_on(
        spells,
        churn_checks.select(*PERIOD_KEYS, "customer_id", pl.col("end_day").alias("day")),
    ).filter(~pl.col("active"))

    return densify(
        grid,
        dims,
        [
            at_start,
            at_end,
            count_customers(
                churned.select(*PERIOD_KEYS, "customer_id"),
                attributes,
                dimensions,
                "churned",
            ),
        ],
    )


def kpi_values(inputs: KpiInputs, settings: KpiSettings) -> pl.DataFrame:
    """kpi_values rows of new_customers (grains month, quarter, year, all; dimensions
    rep, team, region, channel of the first purchase, segment, country, customer_region),
    active_customers and logo_churn_rate (month, quarter, year; by segment, country,
    acquisition channel, region of the owner rep else of the latest purchase, and
    customer_region).

    new_customers = customers whose first purchase falls in the period;
    active_customers = customers active at period end;
    logo_churn_rate = active at period start and not at period end / active at period start.
    """
    as_of = inputs.as_of
    new = new_customer_counts_by_first_purchase(inputs)
    activity = activity_counts(inputs, settings, ACTIVITY_GRAINS, CUSTOMER_DIMENSIONS).with_columns(
        safe_ratio(pl.col("churned"), pl.col("active_start")).alias("value")
    )
    return pl.concat(
        [
            to_kpi_values(
                new,
                kpi="new_customers",
                unit=REGISTRY["new_customers"].unit,
                as_of=as_of,
                value="new_customers",
            ),
            to_kpi_values(
                activity,
                kpi="active_customers",
                unit=REGISTRY["active_customers"].unit,
                as_of=as_of,
                value="active_end",
            ),
            to_kpi_values(
                activity,
                kpi="logo_churn_rate",
                unit=REGISTRY["logo_churn_rate"].unit,
                as_of=as_of,
                numerator="churned",
                denominator="active_start",
            ),
        ]
    ).sort(["kpi", *GROUP_KEYS])
