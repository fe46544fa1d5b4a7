"""The data domain: projects' connections, connectors, catalogs and metadata, the SQL guard and
query execution."""
