"""Operators that run pipeline steps."""
