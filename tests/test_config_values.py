"""Config values that reach SQL or dbt's vars are validated by the config schema (docs/entities.md,
docs/security.md): a bad one is a config error (exit 2) naming its key, before anything
is loaded; paths that reach SQL are quoted."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from salesdw import warehouse
from salesdw.config import load_config
from salesdw.errors import ConfigError
from tests.e2e_helpers import salesdw

SOURCE = {"name": "shop", "entity": "orders", "path": "shop/*.csv"}


def _write(folder: Path, **values: Any) -> Path:
    config = folder / "salesdw.yml"
    config.write_text(yaml.safe_dump({"sources": [SOURCE], **values}), encoding="utf-8")
    return config


def test_a_currency_with_a_quote_is_a_config_error_before_anything_runs(tmp_path: Path) -> None:
    published = tmp_path / "warehouse" / "sales.duckdb"
    published.parent.mkdir()
    published.write_bytes(b"the published warehouse")
    before = hashlib.sha256(published.read_bytes()).hexdigest()
    config = _write(tmp_path, warehouse="warehouse/sales.duckdb", reporting_currency="US'D")
    result = salesdw("run", "--config", str(config), timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "error: salesdw.yml: reporting_currency: Value error, \"US'D\" is not a currency "
        "code: write the three-letter ISO 4217 code, as in USD, EUR or CNY"
    )
    assert hashlib.sha256(published.read_bytes()).hexdigest() == before
    assert not (tmp_path / "warehouse" / ".build").exists()


@pytest.mark.parametrize(("written", "read"), [("usd", "USD"), (" eur ", "EUR"), ("CNY", "CNY")])
def test_a_currency_code_is_read_in_upper_case(tmp_path: Path, written: str, read: str) -> None:
    assert load_config(_write(tmp_path, reporting_currency=written)).reporting_currency == read


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"reporting_currency": "DOLLAR"}, "reporting_currency: Value error, 'DOLLAR' is not a currency code"),
        ({"reporting_currency": 840}, "reporting_currency: Value error, 840 is not a currency code"),
        ({"reporting_currency": "U$D"}, "reporting_currency: Value error, 'U$D' is not a currency code"),
        ({"kpi": {"clv": {"calibration_end": "1997-09-31"}}}, "kpi.clv.calibration_end: Input should be a valid date"),
        ({"kpi": {"clv": {"calibration_end": "yesterday"}}}, "kpi.clv.calibration_end: Input should be a valid date"),
        ({"kpi": {"churn_window_days": "365; drop table x"}}, "kpi.churn_window_days: Input should be a valid integer"),
        ({"kpi": {"clv": {"horizon": float("inf")}}}, "kpi.clv.horizon: Input should be a finite number"),
        ({"kpi": {"gross_margin_default": float("nan")}}, "kpi.gross_margin_default: Input should be a finite number"),
        ({"quarantine_threshold": float("nan")}, "quarantine_threshold: Input should be a finite number"),
    ],
)
def test_bad_values_name_their_key(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, **values))
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"salesdw.yml: {message}"), str(caught.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"name": "crm deals"}, "source 'crm deals': name: Value error, 'crm deals' is not a source name"),
        ({"name": "x'; drop table raw.orders; --"}, "is not a source name"),
        ({"name": "2024_orders"}, "'2024_orders' is not a source name"),
        ({"name": ""}, "source '': name: Value error, '' is not a source name"),
        ({"delimiter": ";;"}, "source 'shop': delimiter: Value error, ';;' is not a delimiter"),
        ({"delimiter": "'"}, None),  # one character: quoted where it reaches SQL
        ({"delimiter": "\n"}, "source 'shop': delimiter: Value error, '\\n' is not a delimiter"),
        ({"path": "  "}, "source 'shop': path: Value error, the path is empty"),
    ],
)
def test_bad_source_values_name_the_source(
    tmp_path: Path, source: dict[str, Any], message: str | None
) -> None:
    config = tmp_path / "salesdw.yml"
    config.write_text(yaml.safe_dump({"sources": [{**SOURCE, **source}]}), encoding="utf-8")
    if message is None:
        assert load_config(config).sources[0].delimiter == source["delimiter"]
        return
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert message in str(caught.value)


def test_source_names_in_any_script_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "salesdw.yml"
    names = ["crm_deals", "纷享销客_客户", "_staging", "Shop2"]
    sources = [{**SOURCE, "name": name} for name in names]
    config.write_text(yaml.safe_dump({"sources": sources}, allow_unicode=True), encoding="utf-8")
    assert [s.name for s in load_config(config).sources] == names


def test_a_warehouse_folder_with_a_quote_in_its_name_works(tmp_path: Path) -> None:
    folder = tmp_path / "o'brien's warehouse"
    folder.mkdir()
    con = warehouse.connect(folder / "sales.duckdb")  # sets the spill folder beside it
    try:
        assert con.execute("select current_setting('temp_directory')").fetchall() == [
            (str(folder / ".spill"),)
        ]
        con.execute("create schema marts; create schema kpi")
        con.execute("create table marts.t as select 42 as answer")
        written = warehouse.export_parquet(con, folder / "parquet")
    finally:
        con.close()
    assert written == [folder / "parquet" / "marts" / "t.parquet"]
    assert duckdb.read_parquet(str(written[0])).fetchall() == [(42,)]
