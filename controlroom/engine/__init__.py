"""The engine: the session state machine, facilitator gates, the safety monitor and the one rollback path.

Public surface (the TUI, the CLI and tests use only this):

    session = Session(scenario, journal_path=..., facilitator=..., executors=..., sources=..., clock=...)
    session.subscribe(callback)          # callback(Event) after the event is journaled
    outcome = await session.run()        # Outcome(outcome, exit_code, unconfirmed)
    await session.emergency_stop("key")  # the one rollback path; idempotent, safe at any time
    session.add_note("text")
    session.state                        # current state name (see STATES)
"""
