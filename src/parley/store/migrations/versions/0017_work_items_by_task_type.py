"""Work items by task type: a worker's delivery and refresh slots claim only their own task
types, and this index finds those few open items without walking the reasoning backlog
(which can be hundreds of thousands of items) in the (status, id) index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_work_items_task_type_status_id"), "work_items", ["task_type", "status", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_work_items_task_type_status_id"), table_name="work_items")
