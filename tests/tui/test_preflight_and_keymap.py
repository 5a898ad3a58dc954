"""Pre-flight progress as checks arrive, the live clock, and the keymap file."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlroom.app import fixtures
from controlroom.app.app import ControlRoomApp
from controlroom.app.feeds import EventListFeed, LiveFeed, RecordingControls
from controlroom.app.keymap import KeymapError, load_keymap
from controlroom.app.preflight_screen import PreflightScreen
from tests.tui.conftest import FakeSession, screen_text


async def test_preflight_opens_shows_each_check_as_it_finishes_and_closes_at_the_first_step() -> None:
    app = ControlRoomApp(EventListFeed([], mode="live", controls=RecordingControls()), clock_tick=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.receive(fixtures.session_started())
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)
        app.receive(fixtures.ev("preflight-check", 1.0, check="sudo", target="db-1", ok=None, detail="running…"))
        await pilot.pause()
        assert "… sudo" in screen_text(app) and "1 running" in screen_text(app)
        app.receive(fixtures.ev("preflight-check", 1.5, check="sudo", target="db-1", ok=True, detail="sudo -n works"))
        await pilot.pause()
        text = screen_text(app)
        assert "✓ sudo" in text and "sudo -n works" in text and "0 running" in text
        assert "[ ] on-call knows" in text
        app.receive(fixtures.ev("step-briefed", 9.0, step="baseline", index=0, title="Confirm steady state",
                                brief="", expect="", duration=None, faults=[]))
        await pilot.pause()
        await pilot.pause()
        assert not isinstance(app.screen, PreflightScreen)
        assert "Confirm steady state" in screen_text(app)


async def test_live_clock_ticks_from_the_session_clock(fake: FakeSession) -> None:
    app = ControlRoomApp(LiveFeed(fake, fake.facilitator))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(20):
            await pilot.pause()
            if app.state.active_gate():
                break
        fake.mono = 75.4
        app._tick_clock()
        await pilot.pause()
        assert "T+01:15" in screen_text(app)


def test_keymap_file_remaps_by_binding_id(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[keys]\nnote = "m"\nemergency-stop = "f12, f11"\n')
    assert load_keymap(path) == {"note": "m", "emergency-stop": "f12,f11"}


@pytest.mark.parametrize(("body", "message"), [
    ('[keys]\nnot-a-binding = "x"\n', "unknown binding id 'not-a-binding'"),
    ('[keys]\nnote = "ctrl+c"\n', "ctrl+c and ctrl+b are reserved"),
    ('[keys]\nquit = ""\n', "must be a key string"),
    ("[keys\n", "not valid TOML"),
])
def test_keymap_mistakes_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(body)
    with pytest.raises(KeymapError) as err:
        load_keymap(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_default_keymap_is_fine_but_a_named_one_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTROLROOM_KEYS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_keymap() == {}
    monkeypatch.setenv("CONTROLROOM_KEYS", str(tmp_path / "nope.toml"))
    with pytest.raises(KeymapError, match="keymap file not found"):
        load_keymap()
