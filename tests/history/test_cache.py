"""`history` reuses per-journal summaries from a private cache keyed by the journal's path, size and mtime."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controlroom import history
from controlroom.history import load_history, render_history
from controlroom.history_cache import SummaryCache, cache_dir

from .test_history import NOW, _copy


@pytest.fixture
def journals(tmp_path: Path) -> Path:
    d = tmp_path / "journals"
    d.mkdir()
    _copy("breach", d / "1-breach.jsonl", 40)
    _copy("held", d / "2-held.jsonl", 1)
    return d


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The journals `history` actually summarised (the cache missed)."""
    calls: list[str] = []
    real = history.summarize

    def counting(path: Path) -> history.SessionSummary:
        calls.append(path.name)
        return real(path)

    monkeypatch.setattr(history, "summarize", counting)
    return calls


def test_a_second_history_reuses_every_summary_and_says_the_same(journals: Path, built: list[str]) -> None:
    first = render_history(load_history(journals, now=NOW))
    assert sorted(built) == ["1-breach.jsonl", "2-held.jsonl"]
    built.clear()
    cache = SummaryCache()
    second = render_history(load_history(journals, now=NOW, cache=cache))
    assert built == [] and cache.hits == 2
    assert second == first


def test_the_cache_is_private(journals: Path) -> None:
    load_history(journals, now=NOW)
    d = cache_dir()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    entries = list(d.iterdir())
    assert len(entries) == 2
    assert all(stat.S_IMODE(e.stat().st_mode) == 0o600 for e in entries)


def test_a_journal_that_grew_is_summarised_again(journals: Path, built: list[str]) -> None:
    before = load_history(journals, now=NOW)
    assert before.sessions[-1].status == "held"
    held = journals / "2-held.jsonl"
    st = held.stat()
    lines = held.read_text().splitlines()
    # The session did not end after all: without its session-ended line it is incomplete.
    held.write_text("\n".join(lines[:-1]) + "\n" + lines[-2] + "\n")
    os.utime(held, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same mtime: the size alone must tell
    assert held.stat().st_size != st.st_size
    built.clear()
    after = load_history(journals, now=NOW)
    assert built == ["2-held.jsonl"]
    assert after.sessions[-1].status == "incomplete"


def test_a_journal_rewritten_to_the_same_size_is_summarised_again(journals: Path, built: list[str]) -> None:
    load_history(journals, now=NOW)
    held = journals / "2-held.jsonl"
    text = held.read_text()
    held.write_text(text.replace('"outcome":"held"', '"outcome":"gone"'))  # an outcome unknown: "failed"
    assert held.stat().st_size == len(text.encode())
    st = held.stat()
    os.utime(held, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    built.clear()
    after = load_history(journals, now=NOW)
    assert built == ["2-held.jsonl"]
    assert after.sessions[-1].status == "failed"


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"key": 1, "summary": []}', b"\xff\xfe",
                                    b'{"key": null, "summary": {"score": "high"}}'])
def test_a_corrupt_entry_is_ignored_and_rebuilt(journals: Path, built: list[str], damage: bytes) -> None:
    first = render_history(load_history(journals, now=NOW))
    for entry in cache_dir().iterdir():
        entry.write_bytes(damage)
    built.clear()
    assert render_history(load_history(journals, now=NOW)) == first
    assert sorted(built) == ["1-breach.jsonl", "2-held.jsonl"]
    built.clear()
    load_history(journals, now=NOW)
    assert built == []  # rebuilt entries are used again


def test_an_entry_with_the_right_key_but_a_field_of_the_wrong_type_is_rebuilt(journals: Path,
                                                                               built: list[str]) -> None:
    import json

    first = render_history(load_history(journals, now=NOW))
    for entry in cache_dir().iterdir():
        doc = json.loads(entry.read_text())
        doc["summary"]["score"] = "99"
        entry.write_text(json.dumps(doc))
    built.clear()
    assert render_history(load_history(journals, now=NOW)) == first
    assert len(built) == 2


def test_an_entry_of_the_previous_cache_version_is_rebuilt_with_the_quality_fields(journals: Path,
                                                                                  built: list[str]) -> None:
    """Version 1 entries lack the quality figures: an old entry under its old key, and one whose summary is of
    the old shape under the new key, are both rebuilt, never read as a session with no rollback or recovery."""
    import json

    from controlroom import history_cache

    first = render_history(load_history(journals, now=NOW))
    assert history_cache.CACHE_VERSION == 2
    old_fields = ("service_of", "validated", "rollback", "contained", "containment", "recoveries", "unconfirmed",
                  "faulted")
    entries = sorted(cache_dir().iterdir())
    for i, entry in enumerate(entries):
        doc = json.loads(entry.read_text())
        for k in old_fields:
            doc["summary"].pop(k)
        if i == 0:
            doc["key"]["version"] = 1
        entry.write_text(json.dumps(doc))
    built.clear()
    again = load_history(journals, now=NOW)
    assert sorted(built) == ["1-breach.jsonl", "2-held.jsonl"]
    assert render_history(again) == first
    assert again.sessions[0].rollback == "automatic" and again.sessions[0].recoveries[0].seconds == 45.0
