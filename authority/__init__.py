"""The health authority: its own trust role, holding the X25519 (HPKE) key contacts are sealed to.

Like auditor/, it imports only protocol/, support/ and libraries: the private key never
reaches an aggregator process (tests/unit/test_role_isolation.py).
"""
