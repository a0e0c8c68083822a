"""Blueprints of the read API, one per area: ledger, proofs, kiosks, operators, health."""
