"""The seeded demo-data generator: ``generate(landing_dir, scale, seed)``.

It writes the landing files of a believable company (CRM exports of three systems, ERP
order lines, targets, marketing spend, FX rates, invoices, payments and activities) for 2024-01-01 .. 2026-10-31. The same
seed and scale give byte-identical files. See ``docs/demo_data.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from salesdw.demo import activities, crm, finance, orders, receivables, world


@dataclass(frozen=True)
class Scale:
    """Size of a generated data set; the other entities follow from these."""

    order_lines: int
    base_customers: int  # accounts that existed before 2024
    leads: int
    reps: int


SCALES: dict[str, Scale] = {
    "demo": Scale(order_lines=80_000, base_customers=2_700, leads=26_000, reps=44),
    "S": Scale(order_lines=100_000, base_customers=3_200, leads=30_000, reps=48),
    "M": Scale(order_lines=1_000_000, base_customers=28_000, leads=260_000, reps=120),
    "L": Scale(order_lines=10_000_000, base_customers=260_000, leads=2_400_000, reps=360),
}


class UnknownScaleError(ValueError):
    """The scale is not one of demo, S, M, L."""


def generate(
    landing_dir: Path,
    scale: str = "demo",
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the demo landing files into ``landing_dir``; return rows per entity.

    Counts are rows written, except ``opportunities`` (distinct deals: the two Salesforce
    exports overlap) and ``orders`` (distinct order numbers).
    """
    if scale not in SCALES:
        raise UnknownScaleError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    size = SCALES[scale]
    landing = Path(landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    # one independent stream per part: changing one part leaves the others' data alone
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)]

    reps = world.make_reps(streams[0], size.reps)
    products = world.make_products(streams[1])
    leads = world.make_leads(streams[2], reps, size.leads)
    cust = world.make_customers(streams[3], reps, leads, size.base_customers)
    opp = world.make_opportunities(streams[4], reps, leads, cust, products)
    crm.assign_customer_ids(streams[5], cust)
    opp_ids = crm.assign_opportunity_ids(streams[5], opp, cust)
    say(
        f"company: {len(reps.name)} reps, {len(cust):,} customers, {len(leads):,} leads, "
        f"{len(opp):,} opportunities"
    )

    counts = crm.write_master(landing, reps, products)
    counts["customers"] = crm.write_customers(streams[6], landing, cust, reps)
    counts["leads"] = crm.write_leads(streams[7], landing, leads, cust, reps, opp_ids)
    counts["opportunities"], counts["opportunity_stage_history"] = crm.write_opportunities(
        streams[8], landing, opp, opp_ids, cust, leads, reps, products
    )
    say("CRM exports written")
    counts["fx_rates"], fx_month = finance.write_fx(streams[9], landing)
    totals = orders.write_order_lines(
        streams[10], landing, cust, reps, products, fx_month, size.order_lines, progress
    )
    counts["orders"], counts["order_lines"] = totals.orders, totals.lines
    counts["targets"] = finance.write_targets(
        streams[11], landing, totals, reps, opp, cust, fx_month
    )
    counts["marketing_spend"] = finance.write_spend(streams[11], landing, leads)
    # invoices, payments and activities: streams 12 and 13 of the same seed
    money_rng, work_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(14)[12:]
    )
    counts["invoices"], counts["payments"] = receivables.write_receivables(
        money_rng, landing, cust, reps, totals
    )
    counts["activities"] = activities.write_activities(
        work_rng, landing, leads, cust, opp, opp_ids, reps, totals
    )
    say(f"invoices, payments and activities written ({counts['activities']:,} activities)")
    say(f"done: {counts['order_lines']:,} order lines in {len(totals.files)} files")
    return counts
