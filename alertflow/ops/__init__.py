"""Operations: Prometheus metrics, delivery analytics, and the load generator (``alertflow bench``)."""
