"""Login methods (SMS, TOTP, passkeys) and passwordless accounts

Revision ID: 9c3e2a7d51f0
Revises: 4b56618eb92a
Create Date: 2026-11-24 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '9c3e2a7d51f0'
down_revision = '4b56618eb92a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_methods',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.Column('secret', sa.LargeBinary(), nullable=True),
        sa.Column('credential_id', sa.LargeBinary(length=1024), nullable=True),
        sa.Column('counter', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('transports', sa.JSON(), nullable=True),
        sa.Column('user_verified', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('backed_up', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('discoverable', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('credential_id'),
    )
    with op.batch_alter_table('login_methods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_methods_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('password_hash', existing_type=sa.String(length=255),
                              nullable=True)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('password_hash', existing_type=sa.String(length=255),
                              nullable=False)
    with op.batch_alter_table('login_methods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_methods_user_id'))
    op.drop_table('login_methods')
