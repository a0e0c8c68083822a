"""Simulation and demo: simulated visitors and codes, the development Mosquitto, the demo."""
