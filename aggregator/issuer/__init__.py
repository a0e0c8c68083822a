"""The issuer: day credentials for visitors' wallets, printed cards, and their records.

An aggregator role with its own key and settings (``[issuer]`` in the aggregator
config), separate from the ledger key. It never stores which credential belongs to
which enrolment in the clear: that link is sealed to the health authority's key.
"""
