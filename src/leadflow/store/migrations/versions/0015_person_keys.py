"""The address and the number as the duplicate search compares them (M1).

The search compares every stored candidate it reads in normalised form: the address checked by
email-validator, the number in E.164 by phonenumbers, ~0.1 ms each, more than the rest of the candidate. A
new process (`leadflow import` into a full database, a server after a restart) did that again for every
candidate it read. Two derived columns keep the result beside the stored values (`domain.normalise`:
`email_key`, `phone_key`, the latter with the country the number was read in), kept by the unit of work on
every write of the address, the number or the country, and filled here for every stored lead and contact.
A row without them (written another way) is normalised when read, as before.

- new columns `email_key`, `phone_key` on `leads` and `contacts`, filled from the stored values.

Revision ID: 0015_person_keys
Revises: 0014_name_initials
Create Date: 2026-12-07

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from leadflow.domain.normalise import email_key, record_phone_key

revision: str = '0015_person_keys'
down_revision: Union[str, Sequence[str], None] = '0014_name_initials'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TABLES = ('leads', 'contacts')


def _fill(table: str) -> None:
    """Page by page (5,000 people by id), so a large database is never held in memory at once."""
    conn = op.get_bind()
    t = sa.table(table, sa.column('id', sa.String), sa.column('email', sa.String), sa.column('phone', sa.String),
                 sa.column('country', sa.String), sa.column('email_key', sa.String), sa.column('phone_key', sa.String))
    after = ''
    while True:
        page = conn.execute(sa.select(t.c.id, t.c.email, t.c.phone, t.c.country)
                            .where(t.c.id > after, sa.or_(t.c.email.is_not(None), t.c.phone.is_not(None)))
                            .order_by(t.c.id).limit(5000)).all()
        if not page:
            return
        conn.execute(t.update().where(t.c.id == sa.bindparam('b_id'))
                     .values(email_key=sa.bindparam('email_key'), phone_key=sa.bindparam('phone_key')),
                     [{'b_id': r.id, 'email_key': email_key(r.email), 'phone_key': record_phone_key(r.phone, r.country)}
                      for r in page])
        after = page[-1].id


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column('email_key', sa.String(length=320), nullable=True))
        op.add_column(table, sa.Column('phone_key', sa.String(length=48), nullable=True))
        _fill(table)


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('phone_key')
            batch.drop_column('email_key')
