"""Indexes for the nightly jobs (W8): leads changed or whose Active window ended, activities by time.

Revision ID: 0007_jobs
Revises: 0006
Create Date: 2026-11-25

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0007_jobs'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_leads_updated_at', 'leads', ['updated_at'], unique=False)
    op.create_index('ix_leads_active_until', 'leads', ['active_until'], unique=False)
    op.create_index('ix_contacts_active_until', 'contacts', ['active_until'], unique=False)
    op.create_index('ix_activities_at', 'activities', ['at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_activities_at', table_name='activities')
    op.drop_index('ix_contacts_active_until', table_name='contacts')
    op.drop_index('ix_leads_active_until', table_name='leads')
    op.drop_index('ix_leads_updated_at', table_name='leads')
