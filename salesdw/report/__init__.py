"""The HTML KPI report: one self-contained page (inline CSS and SVG, no URLs).

``render_report(con, out_path)`` reads the warehouse through an open DuckDB connection
(SELECTs only) and writes the page; ``charts`` holds the SVG builders it uses.
"""

from salesdw.report.html import render_report

__all__ = ["render_report"]
