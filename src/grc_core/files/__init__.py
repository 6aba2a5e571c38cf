"""Checks on uploaded files: names, content types and zip-based containers."""
