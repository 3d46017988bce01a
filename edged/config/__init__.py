"""The TOML config: `loader` reads and validates it; one module per section holds that section's
frozen settings beside its checks; `settings` assembles them into the `Config` the rest of edged
receives."""
