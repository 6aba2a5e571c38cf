"""The ``grc`` command line: a thin host of :mod:`grc_core` for administrators and scripts."""
