"""Process support shared by kiosk and aggregator: config files and rate-limited log quotas.

Nothing here is a wire format (those live in protocol/) or a transport (transport/).
"""
