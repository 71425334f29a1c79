"""The REST API: one module per resource, each a :class:`~alertflow.api.routing.Routes` table."""
