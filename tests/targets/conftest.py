from tests.lab.fixtures import lab_fixture  # noqa: F401  (the session-scoped `lab` fixture, for the SSH fault tests)
