"""Deployments: plans, strategies, the engine and the executors that reach targets."""
