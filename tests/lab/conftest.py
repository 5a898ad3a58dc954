from tests.lab.fixtures import lab  # noqa: F401  (the session-scoped lab fixture)
