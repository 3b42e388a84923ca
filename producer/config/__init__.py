"""Configuration.

Every setting and its resolution, scenario files, and the parsing of rates, sizes and
durations.
"""
