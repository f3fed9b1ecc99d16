"""Ordered indexes for the email and phone duplicate keys (I7, M1) and R3's same-company leads.

The batch intake reads each key's oldest people by (created_at, id) and each company's same-company
leads by (mql_date, created_at, id), many keys in one statement. With an index on the key alone, SQLite
sorts per key (a temporary B-tree each, ~60 us even for no rows: 3 ms for 50 keys); with the order in the
index it reads the entries in order and stops at the limit.

- `ix_leads_email`, `ix_leads_phone`, `ix_contacts_email`, `ix_contacts_phone` (the key) become
  `ix_<table>_email_created`, `ix_<table>_phone_created` (key, created_at, id);
- `ix_leads_company_key` (company_key) becomes `ix_leads_company_key_mql` (company_key, mql_date,
  created_at, id);
- new: `ix_leads_domain_mql` (domain, mql_date, created_at, id).

Revision ID: 0013_key_order_indexes
Revises: 0012_duplicate_key_order
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op

revision: str = '0013_key_order_indexes'
down_revision: Union[str, Sequence[str], None] = '0012_duplicate_key_order'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_KEYS = [('leads', 'email'), ('leads', 'phone'), ('contacts', 'email'), ('contacts', 'phone')]


def upgrade() -> None:
    for table, column in _KEYS:
        op.drop_index(f'ix_{table}_{column}', table_name=table)
        op.create_index(f'ix_{table}_{column}_created', table, [column, 'created_at', 'id'], unique=False)
    op.drop_index('ix_leads_company_key', table_name='leads')
    op.create_index('ix_leads_company_key_mql', 'leads', ['company_key', 'mql_date', 'created_at', 'id'],
                    unique=False)
    op.create_index('ix_leads_domain_mql', 'leads', ['domain', 'mql_date', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_leads_domain_mql', table_name='leads')
    op.drop_index('ix_leads_company_key_mql', table_name='leads')
    op.create_index('ix_leads_company_key', 'leads', ['company_key'], unique=False)
    for table, column in reversed(_KEYS):
        op.drop_index(f'ix_{table}_{column}_created', table_name=table)
        op.create_index(f'ix_{table}_{column}', table, [column], unique=False)
