"""pytest fixtures of godeploy (in progress)."""
