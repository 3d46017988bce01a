"""Health collectors for the equipment around the energy system: the PiBox host, its services,
the smart glasses and the uplink. Each returns a `reading.HealthReading`; see docs/health.md."""
