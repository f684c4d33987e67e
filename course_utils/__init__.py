"""Helpers for the PEFT course notebooks: profiles, data, models, training, and from-scratch PEFT layers."""

__version__ = "0.1.0"
