"""Imports every built-in driver package so each registers its `DriverSpec`.

Adding a driver = one import line here plus its own folder; nothing else in the core changes.
"""

import drivers.battery.daly.spec  # noqa: F401
import drivers.battery.jbd.spec  # noqa: F401
import drivers.battery.jkbms.spec  # noqa: F401
import drivers.battery.pylontech.spec  # noqa: F401
import drivers.modbus.spec  # noqa: F401
import drivers.victron.vedirect.spec  # noqa: F401
