"""Join the branches: working-leads merge (0010) and the API (0007_api: tokens, passwords, playbook versions).

Revision ID: 0011_merge_api
Revises: 0010_merge_work, 0007_api
Create Date: 2026-11-25

"""
from typing import Sequence, Union

revision: str = '0011_merge_api'
down_revision: Union[str, Sequence[str], None] = ('0010_merge_work', '0007_api')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A merge revision: it joins two heads and changes no schema."""


def downgrade() -> None:
    """Splitting the heads again changes no schema either."""
