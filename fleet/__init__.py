"""The central side of the ANTIM fleet: every site's MQTT messages into PostgreSQL.

A second program beside the daemon, run on ANTIM's server. It imports nothing from the daemon's
packages: the MQTT topics and payloads (docs/mqtt.md) are the whole interface between the two.
"""
