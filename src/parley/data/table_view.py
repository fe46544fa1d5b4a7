"""One table of a project's catalog as the model-facing code reads it: the catalog it is in, the
table, its columns and its relations. The agent's schema context and the semantics prompts and
templates (sample questions, table descriptions) both read tables this way."""

from __future__ import annotations

from dataclasses import dataclass

from parley.store.data_models import DataCatalog, DataColumn, DataRelation, DataTable


@dataclass(frozen=True)
class TableView:
    catalog: DataCatalog
    table: DataTable
    columns: list[DataColumn]
    relations: list[DataRelation]

    @property
    def key(self) -> tuple[str, str, str]:
        """(catalog id, schema, table): the table's identity across the project's catalogs."""
        return (self.catalog.id, self.table.schema_name, self.table.table_name)
