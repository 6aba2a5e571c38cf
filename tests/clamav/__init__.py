"""Tests of the ClamAV scanner against a real clamd."""
