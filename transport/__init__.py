"""How processes reach the MQTT broker.

``settings`` and ``session`` are paho-free (settings and the small connection interface the
cores call); the ``*_paho`` / ``paho_client`` modules are the paho-mqtt adapters, imported
only where a concrete connection is built.
"""
