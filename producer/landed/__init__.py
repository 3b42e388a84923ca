"""Checking what landed: reading a lake or a bucket back (`lake summary`, `verify`)."""
