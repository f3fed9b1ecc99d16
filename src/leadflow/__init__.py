"""leadflow: a self-hosted lead lifecycle and routing engine."""

__version__ = "0.1.0"
