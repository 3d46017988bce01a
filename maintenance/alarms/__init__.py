"""Alarms as pure rules: the engine (threshold, delay, hysteresis) and the built-in rule table."""
