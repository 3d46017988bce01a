"""The energy system as pure figures and rules: chemistry data, SOC estimation, battery health,
the site's PV profile, the power policy with its reasons, and the load-shedding level."""
