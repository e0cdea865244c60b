"""regflow: an email-verified two-step registration pipeline."""

__version__ = "0.2.0"
