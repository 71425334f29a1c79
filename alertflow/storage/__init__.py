"""Storage: the database interface, its SQLite implementation and the schema migrations."""
