"""Root pytest configuration: shared fixtures live in tests/fixtures/ (one module per concern)."""

pytest_plugins = ["tests.fixtures.hub", "tests.fixtures.media", "tests.fixtures.app", "tests.fixtures.faces"]
