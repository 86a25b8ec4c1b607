"""Raising the trust level: identity evidence, ID keys, officers

Revision ID: b7e41f0c2a9d
Revises: 9c3e2a7d51f0
Create Date: 2026-11-24 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7e41f0c2a9d'
down_revision = '9c3e2a7d51f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tax_number', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('birthdate', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('is_officer', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_unique_constraint('uq_users_tax_number', ['tax_number'])
    op.create_table(
        'identity_evidence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('given_name', sa.String(length=100), nullable=False),
        sa.Column('family_name', sa.String(length=100), nullable=False),
        sa.Column('birthdate', sa.Date(), nullable=True),
        sa.Column('tax_number', sa.String(length=16), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('officer_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['officer_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_identity_evidence_user_id', 'identity_evidence', ['user_id'])
    op.create_table(
        'id_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('officer_id', sa.Integer(), nullable=True),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['officer_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_id_keys_user_id', 'id_keys', ['user_id'])


def downgrade():
    op.drop_index('ix_id_keys_user_id', table_name='id_keys')
    op.drop_table('id_keys')
    op.drop_index('ix_identity_evidence_user_id', table_name='identity_evidence')
    op.drop_table('identity_evidence')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_tax_number', type_='unique')
        batch_op.drop_column('is_officer')
        batch_op.drop_column('birthdate')
        batch_op.drop_column('tax_number')
