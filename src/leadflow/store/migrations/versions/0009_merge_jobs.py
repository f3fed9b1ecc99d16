"""Join the branches: webhooks merge (0008) and the nightly jobs' indexes (0007_jobs).

Revision ID: 0009_merge_jobs
Revises: 0008_merge_webhooks, 0007_jobs
Create Date: 2026-11-25

"""
from typing import Sequence, Union

revision: str = '0009_merge_jobs'
down_revision: Union[str, Sequence[str], None] = ('0008_merge_webhooks', '0007_jobs')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A merge revision: it joins two heads and changes no schema."""


def downgrade() -> None:
    """Splitting the heads again changes no schema either."""
