from tests.kube.fixtures import kube_cluster, kube_factory, kube_sample, kubeconfig  # noqa: F401
