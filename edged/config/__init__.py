"""The TOML config: `loader` reads and validates it, one module per section checks its keys, and
`settings` holds the frozen objects the rest of edged receives."""
