"""Power-aware work at run time: the energy view, the jump-safe calendar, load shedding and the
`[[jobs]]` (in `jobs/`), all driven by the pure rules of `maintenance.energy`."""
