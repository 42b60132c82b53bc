"""Helpers the tests share: the project on a temporary folder, servers on loopback, independent figures.

Fixtures stay in tests/conftest.py; what a test imports lives here.
"""
