"""Soak runs: a long seeded chaos run with the runner's own CPU and memory sampled into the
history, and a summary of what happened (counts and distributions) written beside it."""
