"""The suite's throwaway PostgreSQL server: a database per test, and a restart that cuts
every connection (the fault tests of the PostgreSQL backend rely on both)."""

from __future__ import annotations

import subprocess

import pytest

from tests.postgres import PostgresServer


def test_each_test_gets_an_empty_database_of_its_own(postgres_server: PostgresServer, postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    postgres_server.psql("CREATE TABLE marker (x int)", name)
    other = postgres_server.create_database().rsplit("/", 1)[1]

    assert postgres_server.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'marker'", other) == "0"
    assert postgres_server.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'marker'", name) == "1"


def test_the_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    assert postgres_server.psql("SHOW listen_addresses") == "127.0.0.1"


def test_a_restart_keeps_the_data_and_serves_again(postgres_server: PostgresServer, postgres_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    postgres_server.psql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)", name)

    postgres_server.restart()

    assert postgres_server.psql("SELECT x FROM kept", name) == "7"


def test_a_bad_statement_is_an_error_not_an_empty_answer(postgres_server: PostgresServer) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        postgres_server.psql("SELECT * FROM no_such_table")
