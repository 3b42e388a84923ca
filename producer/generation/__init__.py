"""Generation.

The event schema, the world (catalog and population), viewer sessions, data faults and
encoding.
"""
