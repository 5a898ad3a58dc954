"""A simulated Kubernetes cluster for rehearsals and tests: an API stand-in on loopback with its controllers.

No kube-apiserver can run on the machines this project is built on, so the Kubernetes half of
controlroom is tested against this stand-in, which the real client (kr8s) reaches through a real
kubeconfig file. It is faithful to the documented API and refuses what the real one refuses: label
and field selectors (bad ones are 400), `Status` bodies with `Content-Type: application/json`,
404/409/410/422/403/401, resourceVersion and watch (with resume and 410 Expired), finalizers and
`deletionTimestamp`, ownerReferences and garbage collection, namespaces that must exist, custom
resources validated against the bundled Chaos Mesh and Litmus CRD schemas, bearer-token auth and an
RBAC table answered by SelfSubjectAccessReview.

Simulated controllers run in the same process: Deployments/ReplicaSets that recreate deleted pods
after a delay and report readiness (`controllers/workloads.py`), a Chaos Mesh controller
(`controllers/chaosmesh.py`) and a Litmus operator (`controllers/litmus.py`). Each module's docstring
says what it simulates and what it does not; docs/kubernetes.md gathers "Where it differs from a
real cluster". Everything it prints says **simulated cluster**.

Public API:
    SimulatedCluster, ClusterThread   controlroom.lab.kube.cluster
    StandinConfig, Timings, Rbac      controlroom.lab.kube.config
    write_kubeconfig, MARK            controlroom.lab.kube.kubeconfig
    python -m controlroom.lab.kube serve --port P --kubeconfig PATH [--sample]
"""

from controlroom.lab.kube.cluster import ClusterThread, SimulatedCluster
from controlroom.lab.kube.config import SIM_CONTEXT, SIM_USER, Rbac, StandinConfig, Timings
from controlroom.lab.kube.kubeconfig import MARK, KubeconfigError, write_kubeconfig

__all__ = ["MARK", "SIM_CONTEXT", "SIM_USER", "ClusterThread", "KubeconfigError", "Rbac", "SimulatedCluster",
           "StandinConfig", "Timings", "write_kubeconfig"]
