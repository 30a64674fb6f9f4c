"""Slow, obviously-correct reference implementations, used as test oracles.

Plain Python loops over samples that follow the papers' equations literally.
They are far too slow for real use and are never imported by the public API.
"""
