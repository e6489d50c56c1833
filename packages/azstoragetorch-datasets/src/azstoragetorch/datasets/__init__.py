"""PyTorch datasets over Azure Blob Storage (not implemented yet; see CHANGELOG.md)."""

__all__: list[str] = []
