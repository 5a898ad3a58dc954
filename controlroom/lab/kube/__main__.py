"""`python -m controlroom.lab.kube serve ...`: a simulated Kubernetes cluster on loopback."""

import sys

from controlroom.lab.kube.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
