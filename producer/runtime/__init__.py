"""The run: rate shapes and schedules, pacing, clocks, the runner, replay and the run's statistics."""
