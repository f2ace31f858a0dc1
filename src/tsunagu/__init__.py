"""tsunagu — digital government and public–private data platform."""

__version__ = "0.1.0"
