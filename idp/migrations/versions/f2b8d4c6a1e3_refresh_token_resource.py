"""The resource (RFC 8707) a refresh token was authorized for

Revision ID: f2b8d4c6a1e3
Revises: e5a7c2d91b04
Create Date: 2026-12-01 19:15:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'f2b8d4c6a1e3'
down_revision = 'e5a7c2d91b04'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resource', sa.String(length=2048), nullable=True))


def downgrade():
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('resource')
