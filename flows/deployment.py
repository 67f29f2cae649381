"""The scheduled deployment of the nightly flow (cron from the config, 02:00 by default).

Start a local Prefect server and serve the deployment (README "Scheduling"):

    .venv/bin/prefect server start            # in one terminal
    PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/python -m flows.deployment

`serve` registers the deployment `salesdw-nightly/nightly` with its cron schedule and
runs the flow whenever it is due, until stopped.
"""

from __future__ import annotations

import argparse

from flows.nightly import nightly
from salesdw.config import config_path, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="config file (default: salesdw.yml)")
    parser.add_argument("--cron", default=None, help="cron schedule (default: the config's)")
    args = parser.parse_args()
    config = load_config(args.config)
    nightly.serve(
        name="nightly",
        cron=args.cron or config.schedule,
        parameters={"config_path": str(config_path(args.config))},
        description="salesdw nightly job: ingest, validate, dbt build, KPIs, publish, report",
    )


if __name__ == "__main__":
    main()
