"""A source reads only inside the landing folder (docs/entities.md, docs/security.md): a path that
leaves it, by `..`, an absolute path or a symbolic link, is a config error (exit 2) that
names the source, loads nothing, and prints nothing of the file outside."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from salesdw.config import load_config
from salesdw.errors import ConfigError
from salesdw.ingest.mapping import plan, source_files
from tests.e2e_helpers import salesdw

SECRET = "SECRET-HEADER-7"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """landing/shop/orders.csv (the source's file), outside/orders.csv (a file of another
    folder whose header is a secret), and a published warehouse."""
    (tmp_path / "landing" / "shop").mkdir(parents=True)
    (tmp_path / "landing" / "shop" / "orders.csv").write_text(
        "order_id,order_date\nA1,2024-01-05\n", encoding="utf-8"
    )
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "orders.csv").write_text(
        f"order_id,order_date,{SECRET}\nB1,2024-01-06,SECRET-VALUE\n", encoding="utf-8"
    )
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "sales.duckdb").write_bytes(b"published warehouse bytes")
    return tmp_path


def _config(root: Path, path: str, name: str = "shop") -> Path:
    config = root / "salesdw.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouse": "warehouse/sales.duckdb",
                "landing": "landing",
                "sources": [
                    {
                        "name": name,
                        "entity": "orders",
                        "path": path,
                        "columns": {"order_id": "order_id", "order_date": "order_date"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return config


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused_run(root: Path, path: str) -> str:
    """`salesdw run` with the source's ``path``: exit 2, nothing of the outside file
    printed, the published file unchanged, no build started; returns the error (the
    last line of stderr)."""
    published = root / "warehouse" / "sales.duckdb"
    before = _sha(published)
    result = salesdw("run", "--config", str(_config(root, path)), timeout=120)
    assert result.returncode == 2, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "SECRET-VALUE" not in result.stdout + result.stderr
    assert _sha(published) == before
    assert not (root / "warehouse" / ".build").exists()  # nothing was loaded
    return result.stderr.splitlines()[-1]


def test_a_path_up_and_out_of_the_landing_folder_is_a_config_error(project: Path) -> None:
    err = _refused_run(project, "../outside/*.csv")
    assert err == (
        "error: salesdw.yml: source 'shop': path: Value error, '../outside/*.csv' points "
        "outside the landing folder; a source reads only files inside it"
    )


def test_a_path_into_etc_prints_nothing_of_its_files(project: Path) -> None:
    err = _refused_run(project, "../../../../etc/*")
    assert "points outside the landing folder" in err
    assert "root:" not in err  # /etc/passwd's first line


def test_an_absolute_path_is_a_config_error_not_a_crash(project: Path) -> None:
    err = _refused_run(project, str(project / "outside" / "*.csv"))
    assert err == (
        f"error: salesdw.yml: source 'shop': path: Value error, "
        f"'{project / 'outside' / '*.csv'}' is an absolute path; write it relative to the "
        "landing folder (as in crm/opportunities_*.csv)"
    )


def test_a_link_to_a_file_outside_is_a_config_error(project: Path) -> None:
    os.symlink(project / "outside" / "orders.csv", project / "landing" / "shop" / "z.csv")
    err = _refused_run(project, "shop/*.csv")
    landing = project.resolve() / "landing"
    assert err == (
        f"error: source 'shop': path 'shop/*.csv' matches shop/z.csv, outside the landing "
        f"folder {landing} (a link or '..'); a source reads only files inside the landing "
        "folder"
    )


def test_a_linked_folder_outside_is_a_config_error(project: Path) -> None:
    os.symlink(project / "outside", project / "landing" / "ext")
    err = _refused_run(project, "ext/*.csv")
    assert "source 'shop': path 'ext/*.csv' matches ext/orders.csv, outside the landing" in err


def test_a_recursive_glob_that_climbs_out_is_caught_on_its_matches(project: Path) -> None:
    # `**` may match no folder: `shop/**/../../outside` is then outside, although the
    # pattern, read as text, stays inside
    config = load_config(_config(project, "shop/**/../../outside/*.csv"))
    with pytest.raises(ConfigError, match="outside the landing folder") as caught:
        plan(config)
    assert SECRET not in str(caught.value)


def test_paths_that_stay_inside_are_read(project: Path) -> None:
    landing = project / "landing"
    (landing / "shop" / "b.csv").write_text("order_id,order_date\nA2,2024-01-07\n")
    os.symlink(landing / "shop" / "orders.csv", landing / "link_inside.csv")
    config = load_config(_config(project, "shop/../shop/*.csv"))
    assert [p.name for p in source_files(config, config.sources[0])] == ["b.csv", "orders.csv"]
    config = load_config(_config(project, "*.csv"))
    assert [p.name for p in source_files(config, config.sources[0])] == ["link_inside.csv"]
    # a landing folder that is itself a link: its files are inside it
    os.symlink(landing, project / "landing_link")
    config = load_config(_config(project, "shop/*.csv"))
    config = config.model_copy(update={"landing": Path("landing_link")})
    assert len(source_files(config, config.sources[0])) == 2
