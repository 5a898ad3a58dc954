"""What a finished session comes to, in a few labelled lines: the room's end screen and what `run`, `demo`
and headless runs print when they exit. A pure function of the folded events (`RoomState`), no UI imports.

"Verified clean" is said only of targets whose every fault the engine reverted *and* verified
(`fault-reverted` with `verified: true`, or a clean `rollback-finished`); anything else is named as
not confirmed, with the command that cleans it up.
"""

from __future__ import annotations

import shlex

from controlroom.viewstate import RoomState

# What each outcome says about the hypothesis. An outcome this build does not know keeps its own word.
VERDICTS = {
    "held": "the hypothesis held",
    "failed": "the hypothesis did NOT hold",
    "rolled-back": "rolled back: the hypothesis is not validated",
    "aborted": "aborted: the hypothesis is not validated",
    "preflight-failed": "pre-flight refused: nothing was injected",
    "unobserved": "no verdict: the scenario says it is unobserved (its faults were verified clean, nothing judged)",
    "crashed": "the session crashed: run `controlroom recover` on its journal",
}


def verdict(outcome: str | None) -> str:
    if outcome is None:
        return "the session has not ended"
    return VERDICTS.get(outcome, f"{outcome}: the hypothesis is not validated")


def cleanliness(state: RoomState) -> str:
    """One line on what is left on the targets, as the journal says."""
    left = state.not_confirmed
    if left:
        return f"NOT confirmed clean: {', '.join(sorted(left))}"
    faulted = [t for t in state.targets.values() if t.faulted_ever]
    if not faulted:
        return "nothing was injected: all clean"
    unverified = [t.name for t in faulted if not t.verified]
    if unverified:
        return f"reverted, not verified: {', '.join(sorted(unverified))}"
    return "nothing active — all clean (every revert verified)"


def short_cleanliness(state: RoomState) -> str:
    """The same in a few words, for the red control: "all clean" only when every revert was verified."""
    if state.not_confirmed:
        return "NOT clean: " + ", ".join(sorted(state.not_confirmed))
    unverified = sorted(t.name for t in state.targets.values() if t.faulted_ever and not t.verified)
    if unverified:
        return "not verified: " + ", ".join(unverified)
    return "all clean"


def verified_clean(state: RoomState) -> bool:
    """Nothing is left unconfirmed and every target that was faulted is verified clean (nothing faulted: True)."""
    return not state.not_confirmed and all(t.verified for t in state.targets.values() if t.faulted_ever)


def end_summary(state: RoomState, journal: str | None = None, *, placeholder: bool = False) -> list[tuple[str, str]]:
    """(label, text) rows: outcome, hypothesis, what was faulted and whether it is clean, recovery, notes,
    and the journal with the commands to replay and report it (`placeholder`: the commands say JOURNAL,
    for a narrow screen that shows the path on the row above)."""
    rows: list[tuple[str, str]] = []
    outcome = state.outcome or "?"
    exit_part = f" (exit {state.exit_code})" if state.exit_code is not None else ""
    rows.append(("Outcome", f"{outcome.upper()}{exit_part}" + (f" — {state.message}" if state.message else "")))
    rows.append(("Verdict", verdict(state.outcome)))
    faulted = [t for t in state.targets.values() if t.faulted_ever]
    if faulted:
        parts = []
        for tv in sorted(faulted, key=lambda t: t.name):
            kinds = list(dict.fromkeys(w.type for w in state.windows if w.target == tv.name and w.type))
            if tv.name in state.not_confirmed:
                word = "NOT confirmed clean"
            elif tv.verified:
                word = "verified clean"
            else:
                word = "reverted, not verified"
            parts.append(f"{tv.name} ({', '.join(kinds) or 'fault'}): {word}")
        clean = " — nothing active, all clean" if verified_clean(state) else ""
        rows.append(("Faulted", "; ".join(parts) + clean))
    else:
        rows.append(("Faulted", "nothing was injected — all clean"))
    rb = state.rollback
    if rb is not None and rb.finished:
        rows.append(("Rollback", f"VERDICT: {rb.verdict}" + (f" — {rb.reason}" if rb.reason else "")))
    if state.recoveries:
        rec = []
        for r in state.recoveries:
            secs = r.get("seconds")
            crit = r.get("criterion")
            crit_part = f" (criterion {crit:g} s)" if isinstance(crit, (int, float)) else ""
            said = f"{secs:.1f} s{crit_part}" if isinstance(secs, (int, float)) else "not recovered" + (
                f" ({r['detail']})" if r.get("detail") else "")
            after = " after the stop" if r.get("after_stop") else ""
            rec.append(f"{r.get('step')}{after}: {said}")
        rows.append(("Recovery", "; ".join(rec)))
    else:
        rows.append(("Recovery", "not measured"))
    if state.statements:
        # The statements as the facilitator judged them: never shown as met when nobody said so.
        judged = []
        for text in state.statements:
            met, by = state.judged.get(text, (None, ""))
            word = "met" if met else ("NOT met" if met is False else "not judged")
            judged.append(f"{text}: {word}" + (f" ({by})" if by else ""))
        rows.append(("Judged", "; ".join(judged)))
    rows.append(("Notes", str(state.notes)))
    if journal:
        q = "JOURNAL" if placeholder else shlex.quote(journal)
        rows.append(("Journal", journal))
        rows.append(("Replay", f"controlroom replay {q}"))
        rows.append(("Report", f"controlroom report {q} --format html -o report.html"))
    if state.not_confirmed and journal:
        rows.append(("Clean up", f"controlroom recover {q}"))
    return rows


def summary_lines(state: RoomState, journal: str | None = None) -> list[str]:
    """The end summary as plain `label: text` lines for a terminal or a CI log (easy to grep)."""
    return [f"{label.lower()}: {text}" for label, text in end_summary(state, journal)]
