"""AlertFlow: a self-hosted, multi-tenant notification appliance."""

__version__ = "0.1.0"
