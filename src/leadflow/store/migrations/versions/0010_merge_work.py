"""Join the branches: jobs merge (0009) and working leads (0007_work: engagement events, passes).

Revision ID: 0010_merge_work
Revises: 0009_merge_jobs, 0007_work
Create Date: 2026-11-25

"""
from typing import Sequence, Union

revision: str = '0010_merge_work'
down_revision: Union[str, Sequence[str], None] = ('0009_merge_jobs', '0007_work')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A merge revision: it joins two heads and changes no schema."""


def downgrade() -> None:
    """Splitting the heads again changes no schema either."""
