"""Routing: stored routing decisions (R1, W3) and round-robin credits per pool member (R9).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('routing_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.String(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('playbook', sa.String(length=200), nullable=False),
    sa.Column('rule', sa.String(length=80), nullable=False),
    sa.Column('routed', sa.Boolean(), nullable=False),
    sa.Column('assign_kind', sa.String(length=20), nullable=False),
    sa.Column('pool_id', sa.String(length=80), nullable=True),
    sa.Column('pool_key', sa.String(length=120), nullable=True),
    sa.Column('owner_type', sa.String(length=10), nullable=True),
    sa.Column('owner_id', sa.String(length=120), nullable=True),
    sa.Column('why', sa.Text(), nullable=True),
    sa.Column('trace', sa.JSON(), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('notify', sa.JSON(), nullable=False),
    sa.Column('round_robin', sa.JSON(), nullable=False),
    sa.Column('sla_business_days', sa.Integer(), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sla_why', sa.Text(), nullable=True),
    sa.Column('actor_id', sa.String(length=120), nullable=False),
    sa.Column('change_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_decisions'))
    )
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_routing_decisions_lead', ['lead_id', 'decided_at'], unique=False)
        batch_op.create_index('ix_routing_decisions_owner', ['owner_type', 'owner_id', 'decided_at'], unique=False)

    op.create_table('round_robin_credits',
    sa.Column('pool_id', sa.String(length=80), nullable=False),
    sa.Column('pool_key', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('credit', sa.Integer(), nullable=False),
    sa.Column('assigned_total', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_round_robin_credits_user_id_users')),
    sa.PrimaryKeyConstraint('pool_id', 'pool_key', 'user_id', name=op.f('pk_round_robin_credits'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('round_robin_credits')
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_routing_decisions_owner')
        batch_op.drop_index('ix_routing_decisions_lead')

    op.drop_table('routing_decisions')
