"""Internal tables: tables that live inside Parley, one DuckDB file per project, written only
through the /table and /bitable routes and read like any catalog through the SQL guard."""
