"""DataLoader workers that leave stopping to the main process, for training and evaluation: give a
loader worker_init_fn=ignore_stop_signals and start its passes with loader_iterator(loader)."""
import signal

from torch.utils.data import DataLoader

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader worker_init_fn: Ctrl-C and SIGTERM sent to the whole process group (a terminal,
    systemd, Slurm, `kill -- -PGID`) leave the workers alone, so that the main process finishes its step,
    saves and shuts them down itself. A worker still exits when the main process dies (DataLoader's
    watchdog checks its parent every few seconds)."""
    for kind in STOP_SIGNALS:
        signal.signal(kind, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # held since the fork (see loader_iterator)


def loader_iterator(loader: DataLoader):
    """iter(loader) with Ctrl-C and SIGTERM held while it forks the workers: a worker inherits them held
    and drops them in ignore_stop_signals, so none kills it before; the main process gets them after."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
