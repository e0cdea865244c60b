"""regflow's benchmark suite: `python -m bench.run` (what `make bench` runs)."""
