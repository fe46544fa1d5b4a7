"""The loop that claims queued work and runs memory tasks (embedded in `serve`, or `parley
worker`)."""
