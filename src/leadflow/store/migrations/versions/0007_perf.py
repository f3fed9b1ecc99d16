"""Lookup keys for single-intake speed: account change log, company key, duplicate-key indexes.

- `account_changes`: one row per account written, read by the shared account index
  (services/account_cache.py) to stay current without reloading every account.
- `leads.company_key`: the normalised company name (R3 same-company lookup), indexed, filled
  here for existing leads with the same function the unit of work uses.
- indexes on `phone` and `lower(last_name)` of leads and contacts (M1 duplicate keys).

Revision ID: 0007_perf
Revises: 0006
Create Date: 2026-11-25

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007_perf'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    from leadflow.domain.normalise import normalise_company  # the key must be the one the code computes

    op.create_table(
        'account_changes',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_account_changes')),
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('company_key', sa.String(length=300), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_company_key'), ['company_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_phone'), ['phone'], unique=False)
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_phone'), ['phone'], unique=False)
    op.create_index('ix_leads_last_name_lower', 'leads', [sa.text('lower(last_name)')], unique=False)
    op.create_index('ix_contacts_last_name_lower', 'contacts', [sa.text('lower(last_name)')], unique=False)

    conn = op.get_bind()
    leads = sa.table('leads', sa.column('id', sa.String), sa.column('company', sa.String),
                     sa.column('company_key', sa.String))
    rows = conn.execute(sa.select(leads.c.id, leads.c.company).where(leads.c.company.is_not(None))).all()
    updates = [{"b_id": r.id, "key": normalise_company(r.company).key or None} for r in rows]
    for start in range(0, len(updates), 5000):
        conn.execute(
            leads.update().where(leads.c.id == sa.bindparam('b_id')).values(company_key=sa.bindparam('key')),
            updates[start:start + 5000],
        )


def downgrade() -> None:
    op.drop_index('ix_contacts_last_name_lower', table_name='contacts')
    op.drop_index('ix_leads_last_name_lower', table_name='leads')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_phone'))
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_phone'))
        batch_op.drop_index(batch_op.f('ix_leads_company_key'))
        batch_op.drop_column('company_key')
    op.drop_table('account_changes')
