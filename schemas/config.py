"""The `salesdw.yml` config (README.md) as pydantic models."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path, PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.entities import ENTITIES

#: an ISO 4217 currency code (the config may write it in lower case)
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
#: a source name: letters (any script), digits and ``_``, starting with a letter or ``_``
SOURCE_NAME = re.compile(r"[^\W\d]\w{0,62}")


class _Strict(BaseModel):
    # no number of the config is infinite or NaN (`.inf`, `.nan` in YAML)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ValueColumn(_Strict):
    """A constant for every row: ``{value: X}``."""

    value: str | int | float | bool


class RowNumberColumn(_Strict):
    """An id made from the file and the row: ``{row_number: true}``."""

    row_number: Literal[True]


ColumnSpec = str | ValueColumn | RowNumberColumn


class ClvSettings(_Strict):
    """Predictive CLV settings (docs/kpis.md)."""

    calibration_end: dt.date | None = Field(None, description="Default: the as-of date.")
    time_unit: Literal["day", "week", "month"] = "week"
    horizon: float = Field(52, gt=0, description="In time units.")
    discount_rate_annual: float = Field(0.10, ge=0)


class KpiHistorySettings(_Strict):
    """How much of ``kpi.kpi_history`` is kept (``kpi.history``; docs/kpis.md, "History")."""

    daily_months: int | None = Field(
        None,
        ge=0,
        description=(
            "Keep every snapshot of the newest snapshot's month and of this many months "
            "before it; of each earlier month only its last snapshot. Default: keep every "
            "snapshot."
        ),
    )


class KpiSettings(_Strict):
    """KPI settings (README.md `kpi:`)."""

    churn_window_days: int = Field(365, gt=0)
    gross_margin_default: float = Field(0.30, ge=0, le=1)
    payment_terms_days: int = Field(
        30, ge=0, description="An invoice without a due date is due this many days after it."
    )
    follow_up_days: int = Field(
        30, gt=0, description="follow_up_rate: an activity within this many days after a purchase."
    )
    stale_days: int = Field(
        30, gt=0, description="kpi.stale_opportunities: open deals without an activity this long."
    )
    clv: ClvSettings = ClvSettings()
    history: KpiHistorySettings = KpiHistorySettings()


AlertLevel = Literal["info", "warning", "critical"]
#: the alert levels, least severe first
ALERT_LEVELS: tuple[AlertLevel, ...] = ("info", "warning", "critical")


class PacingRule(_Strict):
    """``pacing_below``: target_pacing of an open period below a threshold."""

    enabled: bool = True
    warning: float = Field(0.9, ge=0, description="target_pacing below this: warning.")
    critical: float = Field(0.75, ge=0, description="target_pacing below this: critical.")


class CoverageRule(_Strict):
    """``coverage_below``: pipeline_coverage of an open period below a threshold."""

    enabled: bool = True
    threshold: float = Field(1.0, ge=0)
    level: AlertLevel = "warning"


class WarningRule(_Strict):
    """A rule that fires or not, by default at level warning."""

    enabled: bool = True
    level: AlertLevel = "warning"


class InfoRule(_Strict):
    """A rule that fires or not, by default at level info."""

    enabled: bool = True
    level: AlertLevel = "info"


class OverdueRule(_Strict):
    """``overdue_receivable``: receivables more than ``days`` past due."""

    enabled: bool = True
    days: int = Field(60, ge=0)
    level: AlertLevel = "critical"


class TargetsAddUpRule(_Strict):
    """``targets_do_not_add_up``: the targets of a level's members (reps of a team,
    teams of the company) differ from the level's target by more than ``tolerance``."""

    enabled: bool = True
    tolerance: float = Field(0.01, ge=0)
    level: AlertLevel = "info"


class AlertsConfig(_Strict):
    """The alert rules (docs/kpis.md "Alerts"; config ``alerts:``), each with its default."""

    pacing_below: PacingRule = PacingRule()
    coverage_below: CoverageRule = CoverageRule()
    key_customer_at_risk: WarningRule = WarningRule()
    deal_past_close_date: InfoRule = InfoRule()
    deal_stuck: InfoRule = InfoRule()
    overdue_receivable: OverdueRule = OverdueRule()
    targets_do_not_add_up: TargetsAddUpRule = TargetsAddUpRule()


class SourceConfig(_Strict):
    """One source: files matching `path` mapped onto one entity."""

    name: str
    entity: str
    path: str = Field(description="Glob relative to the landing folder.")
    preset: Literal["salesforce", "hubspot", "zoho", "fxiaoke", "erp"] | None = None
    format: Literal["csv", "xlsx"] | None = None
    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    day_first: bool = Field(False, description="Read ambiguous n/n/yyyy dates as D/M/YYYY.")
    sheet: str | None = Field(None, description="xlsx sheet name (default: the first).")
    quarantine_threshold: float | None = Field(
        None, ge=0, le=1, description="Share of quarantined rows above which the run exits 1."
    )
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _identifier_like(cls, v: str) -> str:
        if not SOURCE_NAME.fullmatch(v):
            raise ValueError(
                f"'{v}' is not a source name: use letters, digits and _ (up to 63, "
                "starting with a letter), as in crm_deals"
            )
        return v

    @field_validator("path")
    @classmethod
    def _inside_landing(cls, v: str) -> str:
        """A glob relative to the landing folder that stays inside it (the files it
        matches are checked again when they are listed: salesdw.ingest.mapping)."""
        if not v.strip():
            raise ValueError("the path is empty; give a glob relative to the landing folder")
        if PurePath(v).is_absolute():
            raise ValueError(
                f"'{v}' is an absolute path; write it relative to the landing folder "
                "(as in crm/opportunities_*.csv)"
            )
        if PurePath(os.path.normpath(v)).parts[0] == "..":
            raise ValueError(
                f"'{v}' points outside the landing folder; a source reads only files "
                "inside it"
            )
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, v: str | None) -> str | None:
        if v is not None and (len(v) != 1 or v in "\"\r\n"):
            raise ValueError(
                f"{v!r} is not a delimiter: give one character, such as ',' ';' '|' or a tab"
            )
        return v

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, v: str) -> str:
        if v not in ENTITIES:
            raise ValueError(f"unknown entity '{v}' (known: {', '.join(ENTITIES)})")
        return v

    @model_validator(mode="after")
    def _known_fields(self) -> SourceConfig:
        known = ENTITIES[self.entity].model_fields
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)} for entity '{self.entity}' "
                f"(fields: {', '.join(known)})"
            )
        return self


class Config(_Strict):
    """The whole config file."""

    warehouse: Path = Path("data/warehouse/sales.duckdb")
    landing: Path = Path("data/landing")
    reports: Path = Path("data/reports")
    reporting_currency: str = "USD"
    quarantine_threshold: float = Field(0.05, ge=0, le=1)
    schedule: str = Field("0 2 * * *", description="Cron schedule of the nightly deployment.")
    kpi: KpiSettings = KpiSettings()
    alerts: AlertsConfig = AlertsConfig()
    sources: list[SourceConfig] = Field(default_factory=list)
    #: Folder of the config file; relative paths resolve against it.
    base_dir: Path = Field(Path("."), exclude=True)

    @field_validator("reporting_currency", mode="before")
    @classmethod
    def _iso_currency(cls, v: object) -> object:
        code = v.strip().upper() if isinstance(v, str) else v
        if not isinstance(code, str) or not CURRENCY_CODE.fullmatch(code):
            raise ValueError(
                f"{v!r} is not a currency code: write the three-letter ISO 4217 code, "
                "as in USD, EUR or CNY"
            )
        return code

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        return self

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def warehouse_path(self) -> Path:
        return self.resolve(self.warehouse)

    @property
    def landing_path(self) -> Path:
        return self.resolve(self.landing)

    @property
    def reports_path(self) -> Path:
        return self.resolve(self.reports)
