"""Energy-hungry jobs (backup, sync, report): the supervisor, one slot per job, the subprocess,
its progress and result, the cross-process lock and `edged backup --now` requests."""
