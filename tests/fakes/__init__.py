"""Local peers that speak each provider's wire format, for tests with no internet.

Each fake is an async context manager bound to 127.0.0.1 on an ephemeral port; the pytest
fixtures in :mod:`tests.fakes.fixtures` start one per test.
"""
