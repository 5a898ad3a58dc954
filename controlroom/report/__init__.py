"""The post-mortem: a journal folded into a report (JSON, Markdown, HTML) with a resilience score."""

from controlroom.report.build import build_report
from controlroom.report.model import WEIGHTS, ReportError
from controlroom.report.render import render_html, render_json, render_markdown

__all__ = ["WEIGHTS", "ReportError", "build_report", "render_html", "render_json", "render_markdown"]
