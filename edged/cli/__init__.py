"""The `edged` command: one module per subcommand (`edged status` is `edged.cli.status`)."""
