"""DataLoader worker set-up shared by training and evaluation."""
import signal


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader worker_init_fn: Ctrl-C and SIGTERM sent to the whole process group (a terminal,
    systemd, Slurm, `kill -- -PGID`) leave the workers alone, so that the main process finishes its step,
    saves and shuts them down itself. A worker still exits when the main process dies (DataLoader's
    watchdog checks its parent every few seconds)."""
    for kind in (signal.SIGINT, signal.SIGTERM):
        signal.signal(kind, signal.SIG_IGN)
