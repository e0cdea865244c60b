"""regflow: an email-verified two-step registration pipeline."""

__version__ = "0.1.0"
