"""Name initials for the duplicate search's broad keys (M1).

The search reads each broad key's oldest 200 people: everyone with the same last name, everyone at the same
domain. A common last name or a big company filled those 200 with namesakes and colleagues whose first names
could never agree, and a real duplicate created after them was not read. The keys are now read through the
person's name filter (`domain.duplicates.name_filter`), on two derived columns: the folded first letter of
the first and of the last name (`name_initial`), filled here for every stored lead and contact.

- new columns `first_initial`, `last_initial` on `leads` and `contacts`, filled from the names;
- `ix_leads_last_name_created`, `ix_contacts_last_name_created` (lower(last_name), created_at, id) become
  `ix_leads_last_name_initials`, `ix_contacts_last_name_initials` with the two initials after the id;
- `ix_leads_domain_created` (domain, created_at, id) becomes `ix_leads_domain_initials` the same way;
  so the filter is checked on index entries, in the key's order, before a row is read.

Revision ID: 0014_name_initials
Revises: 0013_key_order_indexes
Create Date: 2026-12-07

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from leadflow.domain.duplicates import name_initial

revision: str = '0014_name_initials'
down_revision: Union[str, Sequence[str], None] = '0013_key_order_indexes'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TABLES = ('leads', 'contacts')


def _fill(table: str) -> None:
    conn = op.get_bind()
    t = sa.table(table, sa.column('id', sa.String), sa.column('first_name', sa.String),
                 sa.column('last_name', sa.String), sa.column('first_initial', sa.String),
                 sa.column('last_initial', sa.String))
    rows = [{'b_id': r.id, 'first_initial': name_initial(r.first_name), 'last_initial': name_initial(r.last_name)}
            for r in conn.execute(sa.select(t.c.id, t.c.first_name, t.c.last_name))]
    rows = [r for r in rows if r['first_initial'] is not None or r['last_initial'] is not None]
    for start in range(0, len(rows), 5000):
        conn.execute(t.update().where(t.c.id == sa.bindparam('b_id'))
                     .values(first_initial=sa.bindparam('first_initial'), last_initial=sa.bindparam('last_initial')),
                     rows[start:start + 5000])


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column('first_initial', sa.String(length=8), nullable=True))
        op.add_column(table, sa.Column('last_initial', sa.String(length=8), nullable=True))
        _fill(table)
        op.drop_index(f'ix_{table}_last_name_created', table_name=table)
        op.create_index(f'ix_{table}_last_name_initials', table,
                        [sa.text('lower(last_name)'), 'created_at', 'id', 'first_initial', 'last_initial'],
                        unique=False)
    op.drop_index('ix_leads_domain_created', table_name='leads')
    op.create_index('ix_leads_domain_initials', 'leads', ['domain', 'created_at', 'id', 'first_initial', 'last_initial'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_leads_domain_initials', table_name='leads')
    op.create_index('ix_leads_domain_created', 'leads', ['domain', 'created_at', 'id'], unique=False)
    for table in reversed(_TABLES):
        op.drop_index(f'ix_{table}_last_name_initials', table_name=table)
        op.create_index(f'ix_{table}_last_name_created', table, [sa.text('lower(last_name)'), 'created_at', 'id'],
                        unique=False)
        with op.batch_alter_table(table) as batch:
            batch.drop_column('last_initial')
            batch.drop_column('first_initial')
