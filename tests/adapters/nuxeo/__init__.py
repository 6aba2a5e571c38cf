"""Tests of the Nuxeo storage backend against a strict local Nuxeo REST server."""
