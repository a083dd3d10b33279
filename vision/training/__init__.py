"""Training: options, the loop, checkpoints and schedules."""
