"""One browser spectator's view, as `controlroom serve` starts it for each connection: `controlroom watch`'s
read-only follower of the session's journal, which dies with the server however the server ends.

`python -m controlroom.app.spectator --server-pid PID JOURNAL`. It runs `run_watch`, the very follower of
`controlroom watch`: it reads the journal and has no controls and no control socket, so no key typed in the page
can stop, confirm or note anything in the session.
"""

from __future__ import annotations

import argparse
import sys

from controlroom.errors import ControlroomError
from controlroom.spectators import die_with_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlroom.app.spectator")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("journal")
    args = parser.parse_args(argv)
    if not die_with_server(args.server_pid):
        return 0  # the server is gone already: nobody to show anything to
    from controlroom.app.entry import run_watch

    try:
        return run_watch(args.journal)
    except ControlroomError as err:  # the server prints a spectator's stderr on its console
        print(f"controlroom serve: spectator: {err}", file=sys.stderr, flush=True)
        return err.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
