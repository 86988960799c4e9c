"""Executors: the ways a deployment reaches a target (agent pull, SSH push, work orders)."""
