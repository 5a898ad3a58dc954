"""Replay: the reviewer's clock over a journal, folded into the same RoomState as the live room."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.errors import JournalError
from controlroom.journal.reader import read_journal
from controlroom.replay import Replay
from controlroom.viewstate import RoomState, fold

FIXTURES = Path(__file__).parents[1] / "report" / "fixtures"


def folded(path: Path, upto: int) -> RoomState:
    return fold(read_journal(path).events[:upto])


@pytest.mark.parametrize("name", ["held", "breach", "unconfirmed", "crashed", "demo"])
def test_replay_to_the_end_is_the_state_of_the_whole_fold(name: str) -> None:
    path = FIXTURES / f"{name}.jsonl"
    rp = Replay.open(path, every=7)
    end = rp.seek(rp.duration)
    assert rp.at_end
    assert end == fold(read_journal(path).events)


def test_seek_lands_on_the_last_event_at_or_before_the_time() -> None:
    path = FIXTURES / "breach.jsonl"
    events = read_journal(path).events
    rp = Replay.open(path, every=5)
    for t in (0.0, 4.5, 9.0, 20.25, 54.0):
        rp.seek(t)
        expected = max(i for i, e in enumerate(events) if e.mono <= t)
        assert rp.position == expected
        assert rp.state().now == t


def test_seeking_back_and_forth_gives_the_same_state_as_a_fresh_fold() -> None:
    path = FIXTURES / "breach.jsonl"
    rp = Replay.open(path, every=5)
    rp.seek(50.0)
    rp.seek(8.0)  # back, from a checkpoint
    expected = folded(path, rp.position + 1)
    expected.now = 8.0
    assert rp.state() == expected
    assert any(k > 0 for k in rp.checkpoints)


def test_next_and_prev_step_one_event() -> None:
    rp = Replay.open(FIXTURES / "held.jsonl")
    assert rp.position == -1
    rp.next_event()
    rp.next_event()
    assert rp.position == 1
    assert rp.state().scenario == "checkout-survives-slow-db"
    rp.prev_event()
    rp.prev_event()
    assert rp.position == -1
    assert rp.state().scenario == ""


def test_playing_advances_by_wall_time_times_speed_and_stops_at_the_end() -> None:
    rp = Replay.open(FIXTURES / "held.jsonl")
    rp.set_speed(4.0)
    assert rp.tick(1.0) == []  # paused: nothing moves
    rp.play()
    applied = rp.tick(1.0)
    assert rp.time == 4.0
    assert [e.mono for e in applied] == sorted(e.mono for e in applied)
    assert all(e.mono <= 4.0 for e in applied) and rp.position == len(applied) - 1
    assert rp.faster() == 16.0 and rp.faster() == 60.0 and rp.faster() == 60.0
    rp.tick(10.0)
    assert rp.at_end and not rp.playing
    with pytest.raises(ValueError, match="1x, 4x, 16x, 60x"):
        rp.set_speed(2.0)


def test_build_index_makes_every_checkpoint() -> None:
    rp = Replay.open(FIXTURES / "breach.jsonl", every=10)
    seen: list[float] = []
    rp.build_index(seen.append)
    assert sorted(rp.checkpoints) == list(range(0, rp.count + 1, 10))[: rp.count // 10 + 1]
    assert seen[-1] == 1.0


def test_a_torn_journal_replays_with_a_warning() -> None:
    path = FIXTURES / "crashed.jsonl"
    rp = Replay.open(path)
    assert rp.count == len(read_journal(path).events)
    assert "torn last line" in rp.warnings[0]
    assert rp.seek(rp.duration).ended is False


def test_a_file_that_is_not_a_journal_is_a_user_error(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text('{"hello": 1}\n')
    with pytest.raises(JournalError, match="not a controlroom journal"):
        Replay.open(p)
    with pytest.raises(JournalError, match="is a directory"):
        Replay.open(tmp_path)


def test_fold_cost_counts_from_the_playhead_or_the_nearest_checkpoint() -> None:
    path = FIXTURES / "breach.jsonl"
    events = read_journal(path).events
    rp = Replay.open(path, every=10)
    end = rp.applied_at(rp.duration)
    assert end == len(events) and rp.applied_at(-5.0) == sum(1 for e in events if e.mono <= 0.0)
    assert rp.fold_cost(end) == end  # only the empty checkpoint so far
    rp.seek_event(end - 3)
    assert rp.fold_cost(end) == 2  # forward from the playhead
    assert rp.fold_cost(15) == 5  # back: from the checkpoint at 10 the fold passed
