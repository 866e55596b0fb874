"""Spreading a model group's requests across its deployments."""
