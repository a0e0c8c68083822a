"""The outside auditor and witness: checks a ledger with nothing but its public key.

Imports only protocol/ and libraries, never aggregator/, kiosk/ or provisioning/.
"""
