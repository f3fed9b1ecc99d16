"""Ordered indexes for the duplicate search's keys (M1).

The search reads each key's oldest 200 people by (created_at, id). With an index on the key alone, a
common last name or a big company's domain meant reading and sorting every namesake or colleague; with
(key, created_at, id) it reads 200 index entries. The same domain with the same last name gets its own
index, so that pair is found without scanning the company.

- `ix_leads_last_name_lower`, `ix_contacts_last_name_lower` (lower(last_name)) become
  `ix_leads_last_name_created`, `ix_contacts_last_name_created` (lower(last_name), created_at, id);
- `ix_leads_domain` (domain) becomes `ix_leads_domain_created` (domain, created_at, id);
- new: `ix_leads_domain_last_name` (domain, lower(last_name)).

Revision ID: 0012_duplicate_key_order
Revises: 0011_merge_api
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012_duplicate_key_order'
down_revision: Union[str, Sequence[str], None] = '0011_merge_api'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_leads_last_name_lower', table_name='leads')
    op.drop_index('ix_contacts_last_name_lower', table_name='contacts')
    op.drop_index('ix_leads_domain', table_name='leads')
    op.create_index('ix_leads_last_name_created', 'leads',
                    [sa.text('lower(last_name)'), 'created_at', 'id'], unique=False)
    op.create_index('ix_contacts_last_name_created', 'contacts',
                    [sa.text('lower(last_name)'), 'created_at', 'id'], unique=False)
    op.create_index('ix_leads_domain_created', 'leads', ['domain', 'created_at', 'id'], unique=False)
    op.create_index('ix_leads_domain_last_name', 'leads', ['domain', sa.text('lower(last_name)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_leads_domain_last_name', table_name='leads')
    op.drop_index('ix_leads_domain_created', table_name='leads')
    op.drop_index('ix_contacts_last_name_created', table_name='contacts')
    op.drop_index('ix_leads_last_name_created', table_name='leads')
    op.create_index('ix_leads_domain', 'leads', ['domain'], unique=False)
    op.create_index('ix_contacts_last_name_lower', 'contacts', [sa.text('lower(last_name)')], unique=False)
    op.create_index('ix_leads_last_name_lower', 'leads', [sa.text('lower(last_name)')], unique=False)
