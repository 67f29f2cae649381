"""Shared fixtures: one published demo warehouse per pytest run (a real `salesdw run`),
copied by the tests that change it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder (landing/, salesdw.yml, warehouse/, data/reports/) after one
    complete `salesdw run` on the generated demo company. Read it, or copy it first."""
    from tests.e2e_helpers import make_project, salesdw

    folder = tmp_path_factory.mktemp("demo") / "project"
    folder.mkdir()
    config = make_project(folder)
    # through Prefect (its temporary server): the scheduled deployment's path; the
    # tests' later runs go without Prefect, as `salesdw run` does by default
    done = salesdw("run", "--prefect", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    (folder / "first_run.out").write_text(done.stdout, encoding="utf-8")
    (folder / "first_run.err").write_text(done.stderr, encoding="utf-8")
    return folder
