"""Canonical entities (docs/entities.md): the one source of field names, types and constraints.

Every source file is mapped onto one of these models. The DuckDB column types of the
raw tables, the Great Expectations suites and the entity docs are derived from them
(see :func:`duckdb_type`, :func:`required_fields`, ``salesdw.validate``).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OrderStatus = Literal["completed", "cancelled", "returned"]
OpportunityType = Literal["new", "renewal", "upsell"]
TargetGrain = Literal["week", "month", "quarter", "year"]
TargetMetric = Literal["revenue", "bookings", "new_customers", "deals_won"]
TargetLevel = Literal["company", "region", "team", "rep", "channel", "product_category"]
InvoiceStatus = Literal["open", "paid", "void"]
ActivityType = Literal["call", "visit", "email", "meeting", "demo", "task", "other"]


class Entity(BaseModel):
    """Base of the canonical entities; subclasses declare fields and natural keys."""

    model_config = ConfigDict(extra="forbid")

    #: Fields that identify a record: a later export with the same key replaces it.
    natural_key: typing.ClassVar[tuple[str, ...]] = ()
    #: (earlier, later) date fields: a record whose ``later`` is before its ``earlier`` is
    #: rejected (ingestion quarantines it with that reason; the GX suite checks it too).
    date_order: typing.ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="after")
    def _dates_in_order(self) -> Entity:
        for earlier, later in self.date_order:
            first, second = getattr(self, earlier), getattr(self, later)
            if first is not None and second is not None and second < first:
                raise ValueError(f"{later} {second} is before {earlier} {first}")
        return self


class Order(Entity):
    """An order header (one per order id)."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("order_id",)
    order_id: str = Field(description="Order number as the ERP / shop exports it.")
    order_date: dt.date = Field(description="Date of the order.")
    customer_id: str | None = Field(None, description="Buyer; empty for guest orders.")
    status: OrderStatus | None = Field(
        None, description="completed / cancelled / returned (empty = completed)."
    )
    channel: str | None = Field(None, description="Sales channel of the order.")
    rep_id: str | None = Field(None, description="Sales rep credited with the order.")
    region: str | None = Field(None, description="Region of the order (wins over the rep's).")
    country: str | None = Field(None, description="Ship-to / bill-to country.")
    currency: str | None = Field(None, description="ISO currency of the order amounts.")


class OrderLine(Entity):
    """An order line; all lines of an order are replaced together by a later export.
    Without a `line_id` column a line is numbered by its row in the file, so two identical
    lines of an order in one file are two lines (the hygiene check `identical_order_lines`
    shows them)."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("order_id", "line_id")
    order_id: str = Field(description="Order the line belongs to.")
    line_id: str | None = Field(None, description="Line number within the order.")
    product_id: str | None = Field(None, description="Product / SKU.")
    quantity: float | None = Field(None, description="Units; negative on return lines.")
    unit_price: float | None = Field(None, description="Price per unit, in `currency`.")
    discount: float | None = Field(None, description="Discount amount of the line (not a rate).")
    amount: float | None = Field(
        None, description="Net line amount; defaults to quantity × unit_price − discount."
    )
    cost: float | None = Field(
        None, description="Total cost of the line; defaults to quantity × product unit_cost."
    )
    currency: str | None = Field(None, description="ISO currency (else the order's).")


class Customer(Entity):
    """A customer account."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("customer_id",)
    customer_id: str = Field(description="Customer / account id.")
    name: str | None = Field(None, description="Account name.")
    segment: str | None = Field(None, description="Segment (e.g. SMB, Mid-Market, Enterprise).")
    industry: str | None = Field(None, description="Industry / sector.")
    country: str | None = Field(None, description="Country.")
    region: str | None = Field(None, description="Sales region.")
    city: str | None = Field(None, description="City.")
    channel: str | None = Field(None, description="Acquisition source (lead source).")
    created_at: dt.date | None = Field(None, description="Date the account was created.")
    owner_rep_id: str | None = Field(None, description="Account owner (rep).")


class Lead(Entity):
    """A lead (a prospect before qualification)."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("lead_id",)
    lead_id: str = Field(description="Lead id.")
    created_at: dt.date = Field(description="Date the lead was created.")
    channel: str | None = Field(None, description="Lead source.")
    status: str | None = Field(None, description="Lead status as the CRM names it.")
    owner_rep_id: str | None = Field(None, description="Lead owner (rep).")
    converted_at: dt.date | None = Field(None, description="Date of conversion.")
    converted_customer_id: str | None = Field(None, description="Customer created from it.")
    converted_opportunity_id: str | None = Field(None, description="Opportunity created from it.")


class Opportunity(Entity):
    """A deal / opportunity in its current state."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("opportunity_id",)
    opportunity_id: str = Field(description="Opportunity / deal id.")
    customer_id: str | None = Field(None, description="Account of the deal.")
    lead_id: str | None = Field(None, description="Lead the deal came from.")
    owner_rep_id: str | None = Field(None, description="Deal owner (rep).")
    name: str | None = Field(None, description="Deal name.")
    stage: str = Field(description="Stage label as the CRM exports it (mapped by seed).")
    amount: float | None = Field(None, description="Deal amount, in `currency`.")
    currency: str | None = Field(None, description="ISO currency of the amount.")
    probability: float | None = Field(None, ge=0, le=1, description="Win probability, 0..1.")
    created_at: dt.date | None = Field(None, description="Date the deal was created.")
    close_date: dt.date | None = Field(None, description="(Expected) close date.")
    channel: str | None = Field(None, description="Lead source of the deal.")
    product_id: str | None = Field(None, description="Main product.")
    type: OpportunityType | None = Field(None, description="new / renewal / upsell.")


class OpportunityStageHistory(Entity):
    """One row per stage an opportunity entered."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("opportunity_id", "stage", "entered_at")
    opportunity_id: str = Field(description="Opportunity id.")
    stage: str = Field(description="Stage label entered.")
    entered_at: dt.datetime = Field(description="When the stage was entered.")


class Rep(Entity):
    """A sales representative."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("rep_id",)
    rep_id: str = Field(description="Rep id (or the rep's name where the CRM has no id).")
    name: str | None = Field(None, description="Full name.")
    manager: str | None = Field(None, description="Manager's name.")
    team: str | None = Field(None, description="Team.")
    region: str | None = Field(None, description="Sales office / region.")
    hire_date: dt.date | None = Field(None, description="Hire date.")
    active: bool | None = Field(None, description="Still active.")


class Product(Entity):
    """A product / SKU."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("product_id",)
    product_id: str = Field(description="Product id / SKU.")
    name: str | None = Field(None, description="Product name.")
    category: str | None = Field(None, description="Category (series, product line).")
    list_price: float | None = Field(None, ge=0, description="List price.")
    unit_cost: float | None = Field(None, ge=0, description="Cost per unit.")


class Target(Entity):
    """A sales target for a period, metric and level."""

    natural_key: typing.ClassVar[tuple[str, ...]] = (
        "period_start",
        "grain",
        "metric",
        "level",
        "level_value",
    )
    period_start: dt.date = Field(description="First day of the target period.")
    grain: TargetGrain = Field(description="week (ISO, Monday start) / month / quarter / year.")
    metric: TargetMetric = Field(description="revenue / bookings / new_customers / deals_won.")
    level: TargetLevel = Field(
        description="company / region / team / rep / channel / product_category."
    )
    level_value: str | None = Field(None, description="The region, team, … (empty for company).")
    target_value: float = Field(description="Target value in the metric's unit.")


class MarketingSpend(Entity):
    """Marketing spend of a channel in a day or month."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("period_start", "channel", "campaign")
    period_start: dt.date = Field(description="Day or first day of the month of the spend.")
    channel: str = Field(description="Channel (lead source) the spend went to.")
    amount: float = Field(description="Amount spent, in `currency`.")
    campaign: str | None = Field(None, description="Campaign.")
    currency: str | None = Field(None, description="ISO currency of the amount.")


class FxRate(Entity):
    """Exchange rate of a currency to the reporting currency on a date."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("date", "currency")
    date: dt.date = Field(description="Date from which the rate applies.")
    currency: str = Field(description="ISO currency.")
    rate_to_reporting: float = Field(gt=0, description="1 unit of currency = rate × reporting.")


class Invoice(Entity):
    """An invoice (开票) issued to a customer; a void invoice counts nowhere."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("invoice_id",)
    date_order: typing.ClassVar[tuple[tuple[str, str], ...]] = (("invoice_date", "due_date"),)
    invoice_id: str = Field(description="Invoice number.")
    invoice_date: dt.date = Field(description="Date the invoice was issued.")
    amount: float = Field(description="Invoiced amount (gross, what the customer owes), in `currency`.")
    customer_id: str | None = Field(None, description="Customer billed.")
    order_id: str | None = Field(None, description="Order the invoice bills.")
    opportunity_id: str | None = Field(None, description="Deal / contract the invoice bills.")
    due_date: dt.date | None = Field(
        None,
        description="Payment due date; empty = invoice date + `kpi.payment_terms_days`. "
        "Not before the invoice date.",
    )
    currency: str | None = Field(None, description="ISO currency of the amount.")
    rep_id: str | None = Field(None, description="Rep credited (else the customer's owner).")
    status: InvoiceStatus | None = Field(
        None, description="open / paid / void (empty = open); void invoices count nowhere."
    )


class Payment(Entity):
    """A payment received (回款); a negative amount is a refund."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("payment_id",)
    payment_id: str = Field(description="Payment / receipt number.")
    payment_date: dt.date = Field(description="Date the money was received (or refunded).")
    amount: float = Field(description="Amount received, in `currency`; negative for a refund.")
    invoice_id: str | None = Field(
        None, description="Invoice paid; empty = applied to the customer's oldest open invoices."
    )
    customer_id: str | None = Field(None, description="Paying customer (else the invoice's).")
    order_id: str | None = Field(None, description="Order the payment is for.")
    currency: str | None = Field(None, description="ISO currency of the amount.")
    method: str | None = Field(None, description="Payment method (bank transfer, card, …).")


class Activity(Entity):
    """A sales activity (跟进记录, 拜访): a call, visit, email, meeting, demo or task."""

    natural_key: typing.ClassVar[tuple[str, ...]] = ("activity_id",)
    activity_id: str = Field(description="Activity id.")
    occurred_at: dt.datetime = Field(description="When the activity took place.")
    type: ActivityType = Field(
        description="call / visit / email / meeting / demo / task / other "
        "(电话, 拜访, 邮件, 会议, 演示, 任务, … are mapped)."
    )
    rep_id: str | None = Field(None, description="Rep who did it.")
    customer_id: str | None = Field(None, description="Customer it concerns.")
    lead_id: str | None = Field(None, description="Lead it concerns.")
    opportunity_id: str | None = Field(None, description="Deal it concerns.")
    subject: str | None = Field(None, description="Subject / title.")
    outcome: str | None = Field(None, description="Result as the rep noted it.")
    duration_minutes: float | None = Field(None, ge=0, description="Duration in minutes.")


ENTITIES: dict[str, type[Entity]] = {
    "orders": Order,
    "order_lines": OrderLine,
    "customers": Customer,
    "leads": Lead,
    "opportunities": Opportunity,
    "opportunity_stage_history": OpportunityStageHistory,
    "reps": Rep,
    "products": Product,
    "targets": Target,
    "marketing_spend": MarketingSpend,
    "fx_rates": FxRate,
    "invoices": Invoice,
    "payments": Payment,
    "activities": Activity,
}

FieldKind = Literal["text", "date", "timestamp", "number", "boolean", "enum"]


def _base_type(annotation: object) -> object:
    """The annotation without ``None`` (``str | None`` → ``str``)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def field_kind(entity: str, field: str) -> FieldKind:
    """How a raw text value of the field is parsed."""
    base = _base_type(ENTITIES[entity].model_fields[field].annotation)
    if typing.get_origin(base) is Literal:
        return "enum"
    kinds: dict[object, FieldKind] = {
        str: "text",
        dt.date: "date",
        dt.datetime: "timestamp",
        float: "number",
        bool: "boolean",
    }
    return kinds[base]


def accepted_values(entity: str, field: str) -> tuple[str, ...]:
    """Accepted values of an enum field (empty for other fields)."""
    base = _base_type(ENTITIES[entity].model_fields[field].annotation)
    if typing.get_origin(base) is Literal:
        return tuple(str(v) for v in typing.get_args(base))
    return ()


_DUCKDB_TYPES: dict[FieldKind, str] = {
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
}


def duckdb_type(entity: str, field: str) -> str:
    """DuckDB column type of a canonical field."""
    return _DUCKDB_TYPES[field_kind(entity, field)]


def fields(entity: str) -> list[str]:
    """Canonical field names of an entity, in declaration order."""
    return list(ENTITIES[entity].model_fields)


def required_fields(entity: str) -> list[str]:
    """Fields marked * in docs/entities.md."""
    return [n for n, f in ENTITIES[entity].model_fields.items() if f.is_required()]


def natural_key(entity: str) -> tuple[str, ...]:
    """Fields identifying a record of the entity."""
    return ENTITIES[entity].natural_key


def date_order(entity: str) -> tuple[tuple[str, str], ...]:
    """(earlier, later) date fields of the entity: ``later`` may not be before ``earlier``."""
    return ENTITIES[entity].date_order


def field_bounds(entity: str, field: str) -> tuple[float | None, float | None]:
    """Inclusive/exclusive numeric bounds declared on the field (ge/gt, le/lt)."""
    lo: float | None = None
    hi: float | None = None
    for meta in ENTITIES[entity].model_fields[field].metadata:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        lo = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
        hi = getattr(meta, "lt", None) if getattr(meta, "lt", None) is not None else hi
    return lo, hi
