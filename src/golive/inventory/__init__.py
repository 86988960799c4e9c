"""Environments, targets and components: what golive deploys, and where."""
