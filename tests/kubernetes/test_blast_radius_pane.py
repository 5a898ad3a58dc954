"""The room's blast radius shows a Kubernetes target's pods: selected, injected, then recovered or unconfirmed."""

from __future__ import annotations

from controlroom.app import fixtures
from controlroom.viewstate import RoomState, apply

PODS = [{"namespace": "shop", "name": "checkout-a", "uid": "u1"}, {"namespace": "shop", "name": "checkout-b", "uid": "u2"}]


def _state(*events: tuple[str, dict[str, object]]) -> RoomState:
    state = RoomState(max_targets=1, max_duration=60.0)
    for n, (type_, data) in enumerate(events):
        apply(state, fixtures.ev(type_, float(n), **data))
    return state


async def _rendered(state: RoomState, width: int, height: int) -> str:
    """The pane's text for `state`, drawn mounted in an app (its tones come from the theme's component styles)."""
    from textual.app import App, ComposeResult

    from controlroom.widgets.blast_radius import BlastRadiusPane

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield BlastRadiusPane()

    app = Host()
    async with app.run_test(size=(80, 24)):
        return app.query_one(BlastRadiusPane).render_state(state, width, height).plain


async def test_pods_go_from_selected_to_injected_to_recovered_and_the_pane_lists_them() -> None:
    f = {"fault": "kill/0@checkout", "target": "checkout"}
    state = _state(("fault-injecting", {**f, "step": "kill", "fault_type": "pod-kill", "summary": "kill 2 pods"}),
                   ("fault-selected", {**f, "pods": PODS, "matched": 5}))
    assert state.targets["checkout"].pods == {"shop/checkout-a": "selected", "shop/checkout-b": "selected"}
    apply(state, fixtures.ev("fault-injected", 3.0, **f))
    assert set(state.targets["checkout"].pods.values()) == {"injected"}
    text = await _rendered(state, 60, 10)
    assert "▪ shop/checkout-a injected" in text and "▪ shop/checkout-b injected" in text
    apply(state, fixtures.ev("fault-reverted", 4.0, **f, verified=True))
    assert set(state.targets["checkout"].pods.values()) == {"recovered"}


def test_an_unconfirmed_revert_marks_its_pods_unconfirmed() -> None:
    f = {"fault": "d/0@checkout", "target": "checkout"}
    state = _state(("fault-injecting", {**f, "step": "d"}), ("fault-selected", {**f, "pods": PODS}),
                   ("fault-revert-failed", {**f, "error": "fault may persist: finalizer held"}))
    assert set(state.targets["checkout"].pods.values()) == {"unconfirmed"}
