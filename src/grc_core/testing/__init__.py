"""Test helpers shipped with GRC, for GRC's own tests and for plugin authors' tests.

- :mod:`grc_core.testing.storage_contract` — :class:`StorageBackendContract`, the tests
  every storage backend must pass (needs pytest);
- :mod:`grc_core.testing.scanners` — :class:`EicarScanner`, a scanner that refuses the EICAR
  test file, for testing the scanning hook without an antivirus.

Nothing in :mod:`grc_core` imports this package, so pytest is needed only by the tests that
use it.
"""

try:
    import pytest
except ImportError:  # pragma: no cover - the contract module then fails with a clear error
    pass
else:
    # Plain ``assert`` statements in the contract report their operands like test code does.
    # Must run before the module is imported; harmless if it already was.
    pytest.register_assert_rewrite("grc_core.testing.storage_contract")
