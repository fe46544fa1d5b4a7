"""Parley: a self-hosted memory-and-data server for AI agents."""

__version__ = "0.1.0"
