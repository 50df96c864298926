"""Tests of microexp."""
