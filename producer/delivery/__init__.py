"""Delivery.

Batching, dispatching calls, retries and dead letters, transport faults, capture and the
manifest.
"""
