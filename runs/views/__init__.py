"""Pages of runs: runs, agent configs, lane groups and presets."""
