"""Segment reviews (S9): review requests, and the day from which an accepted count (the admin override) counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('segment_reviews',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('employee_count', sa.Integer(), nullable=True),
    sa.Column('hq_country', sa.String(length=80), nullable=True),
    sa.Column('hq_state', sa.String(length=80), nullable=True),
    sa.Column('hq_postal_code', sa.String(length=20), nullable=True),
    sa.Column('source', sa.String(length=1000), nullable=False),
    sa.Column('submitted_by', sa.String(length=120), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('applies_on', sa.Date(), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_segment_reviews_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_reviews'))
    )
    with op.batch_alter_table('segment_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_segment_reviews_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_segment_reviews_due', ['status', 'applies_on'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('employees_admin_override_from', sa.Date(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('employees_admin_override_from')

    with op.batch_alter_table('segment_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_segment_reviews_due')
        batch_op.drop_index(batch_op.f('ix_segment_reviews_account_id'))

    op.drop_table('segment_reviews')
