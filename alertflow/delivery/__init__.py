"""Delivery: the persistent job queue, the worker pools that claim from it, the deliverer that
renders and sends one job and records its outcome, the dead-letter queue, and the read side
of what happened to each notification."""
