"""An example GRC storage plugin: an in-memory backend named ``example-memory``."""

from grc_example_storage.backend import MemoryBackend

__all__ = ["MemoryBackend"]
__version__ = "0.1.0"
