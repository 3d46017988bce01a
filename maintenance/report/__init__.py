"""FENASCOM's monthly equipment-health report and maintenance-cost model (docs/report.md).

Pure figures (`rollups`, `registry`, `costs`, `figures`) and renderers (`render_*`, `fleet`);
reading the database is `maintenance.report.stored_month`'s job, the command is `edged.cli.report`.
"""
