"""Join the branches: single-intake lookup keys (0007_perf) and webhooks (0007_webhooks).

Revision ID: 0008_merge_webhooks
Revises: 0007_perf, 0007_webhooks
Create Date: 2026-11-25

"""
from typing import Sequence, Union

revision: str = '0008_merge_webhooks'
down_revision: Union[str, Sequence[str], None] = ('0007_perf', '0007_webhooks')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A merge revision: it joins two heads and changes no schema."""


def downgrade() -> None:
    """Splitting the heads again changes no schema either."""
