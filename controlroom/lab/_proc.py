"""Child processes of the demo and the lab that must not outlive the process that started them."""

from __future__ import annotations

import signal


def die_with_parent() -> None:
    """`preexec_fn`: the child gets SIGTERM when its parent dies, however it dies (Linux PR_SET_PDEATHSIG).

    The demo's shop runs in its own session so a Ctrl-C in the terminal reaches only the control room
    (which then rolls back through the shop); this keeps a SIGKILLed or hung-up control room from
    leaving the shop behind. Elsewhere than Linux it does nothing.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
