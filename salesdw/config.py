"""Find and read the config file (``salesdw.yml``, ``--config`` or ``SALESDW_CONFIG``)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from salesdw.errors import ConfigError
from schemas.config import Config

DEFAULT_CONFIG = "salesdw.yml"


def config_path(path: str | Path | None = None) -> Path:
    """The config file to use: the argument, else $SALESDW_CONFIG, else ./salesdw.yml."""
    return Path(path or os.environ.get("SALESDW_CONFIG") or DEFAULT_CONFIG).resolve()


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config; errors name the file, the source and the field."""
    file = config_path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} not found; pass --config PATH or set SALESDW_CONFIG")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file.name}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file.name}: expected a mapping at the top level")
    try:
        return Config.model_validate({**data, "base_dir": file.parent})
    except ValidationError as exc:
        raise ConfigError(f"{file.name}: " + _describe(exc, data)) from exc


def _describe(exc: ValidationError, data: dict[str, object]) -> str:
    """Validation errors as `source 'x': field: message` lines."""
    lines = []
    sources = data.get("sources") if isinstance(data.get("sources"), list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            src = sources[loc[1]] if loc[1] < len(sources) else {}  # type: ignore[arg-type, index]
            name = src.get("name", f"#{loc[1] + 1}") if isinstance(src, dict) else f"#{loc[1] + 1}"
            rest = ".".join(str(p) for p in loc[2:]) or "(source)"
            where = f"source '{name}': {rest}"
        lines.append(f"{where}: {err['msg']}")
    return "\n".join(lines)
