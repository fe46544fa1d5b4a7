"""The Trino client protocol over a project's catalogs, for Peaka's drivers (`peaka` on PyPI,
its JDBC driver), the `trino` clients and the BI tools built on them: statements are posted to
`/v1/statement` and their results read a page at a time by following `nextUri`."""
