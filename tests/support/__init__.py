"""What the tests share: polling, local servers, runs of the command, test transports and lakes.

Never imported from a test module by another: shared pieces live here.
"""
