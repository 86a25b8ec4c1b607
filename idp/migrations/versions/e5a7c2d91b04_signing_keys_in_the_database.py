"""Signing keys in the database: one key ring for the cluster, private keys sealed

Revision ID: e5a7c2d91b04
Revises: c3d9a1e4b6f2
Create Date: 2026-12-01 17:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e5a7c2d91b04'
down_revision = 'c3d9a1e4b6f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'signing_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kid', sa.String(length=128), nullable=False),
        sa.Column('alg', sa.String(length=16), nullable=False),
        sa.Column('public_jwk', sa.JSON(), nullable=False),
        sa.Column('private_key', sa.LargeBinary(), nullable=False),
        sa.Column('kek_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('retired_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_keys')),
        sa.UniqueConstraint('kid', name=op.f('uq_signing_keys_kid')),
    )


def downgrade():
    op.drop_table('signing_keys')
