from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controlroom.journal.reader import read_journal
from controlroom.report.build import build_report

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = Path(__file__).parents[2] / "docs" / "report-schema.json"
NAMES = ("held", "breach", "unconfirmed", "crashed", "demo")  # demo: a real `controlroom demo --headless` journal


def report_of(name: str) -> dict[str, Any]:
    # Through JSON and back: the renderers and the schema see exactly what `--format json` prints.
    return json.loads(json.dumps(build_report(read_journal(FIXTURES / f"{name}.jsonl"))))


@pytest.fixture(scope="session")
def reports() -> dict[str, dict[str, Any]]:
    return {n: report_of(n) for n in NAMES}


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA.read_text())
