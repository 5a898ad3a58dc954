from tests.kube.fixtures import kube_cluster, kube_factory, kube_http, kube_sample  # noqa: F401
