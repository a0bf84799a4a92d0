"""Deployment-specific files: the settings classes, and (git-ignored) local databases."""
