"""The engine's closed sets of names: session states, session verdicts, the states of a fault in the rollback.

StrEnums, so the journal keeps the very strings it always had (`state-changed`'s `state`, `session-ended`'s
`outcome`) and a reader that compares with a plain string still matches. Step outcomes are the journal
vocabulary's own `StepOutcome` (`journal/events.py`), and stop kinds its `StopKind`: one list each.
"""

from __future__ import annotations

from enum import StrEnum

from controlroom.journal.events import StopKind


class SessionState(StrEnum):
    """Where the session's state machine is (docs/architecture.md draws it)."""

    LOADED = "loaded"
    PREFLIGHT = "preflight"
    STEADY_STATE = "steady-state"
    BRIEFED = "briefed"
    AWAITING_CONFIRMATION = "awaiting-confirmation"
    INJECTING = "injecting"
    OBSERVING = "observing"
    REVERTING = "reverting"
    RECOVERING = "recovering"
    RECOVERED = "recovered"
    JUDGING = "judging"
    # The end states: one per verdict (`Verdict.final_state`).
    FAILED = "failed"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled-back"
    UNOBSERVED = "unobserved"


class Verdict(StrEnum):
    """A session's outcome (`Outcome.outcome`, `session-ended`'s `outcome`)."""

    HELD = "held"  # the hypothesis held
    UNOBSERVED = "unobserved"  # declared unobserved: every fault verified clean, nothing judged
    FAILED = "failed"  # a step, a phase validation or a success criterion failed; a fault lost or unconfirmed
    ROLLED_BACK = "rolled-back"  # the scenario's rules stopped it (StopKind.automatic)
    ABORTED = "aborted"  # a person stopped it (StopKind.manual), or the journal broke
    PREFLIGHT_FAILED = "preflight-failed"  # nothing was injected
    CRASHED = "crashed"  # the session ended without an outcome (an internal error)

    @property
    def final_state(self) -> SessionState:
        return _FINAL.get(self, SessionState.FAILED)


_FINAL = {Verdict.HELD: SessionState.COMPLETED, Verdict.ROLLED_BACK: SessionState.ROLLED_BACK,
          Verdict.ABORTED: SessionState.ABORTED, Verdict.UNOBSERVED: SessionState.UNOBSERVED}


class FaultState(StrEnum):
    """A fault the rollback knows of (`rollback.ActiveFault.state`)."""

    INJECTING = "injecting"  # announced, its inject may be on its way: a stop covers it all the same
    ACTIVE = "active"  # every inject action answered: the fault is in
    REVERTING = "reverting"  # its revert is on its way


# Stops after which the room itself is going away (the program was told to end, or cannot go on): nobody is
# asked to judge, and the recovery is not watched.
ROOM_GOING = frozenset({StopKind.SIGNAL, StopKind.CANCELLED, StopKind.CRASH, StopKind.JOURNAL})
