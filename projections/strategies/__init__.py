"""Strategy plug-ins (see docs/adding-a-strategy.md)."""
