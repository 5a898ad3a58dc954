from tests.kube.fixtures import kr8s_api, kube_cluster, kube_factory, kube_http, kube_sample, kubeconfig  # noqa: F401
