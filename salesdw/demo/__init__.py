"""Seeded demo data: a believable sales company's CRM / ERP exports (docs/demo_data.md)."""

from salesdw.demo.config import config_sources, write_config
from salesdw.demo.generator import SCALES, UnknownScaleError, generate

__all__ = ["SCALES", "UnknownScaleError", "config_sources", "generate", "write_config"]
