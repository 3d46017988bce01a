"""Imports every built-in driver package so each registers its `DriverSpec`.

Adding a driver = one import line here plus its own folder; nothing else in the core changes.
"""

import drivers.victron.vedirect.spec  # noqa: F401
