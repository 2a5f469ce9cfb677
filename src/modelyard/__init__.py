"""Modelyard: a self-hosted hub for open models and datasets."""

__version__ = "0.1.0"
