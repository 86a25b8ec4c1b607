"""Client metadata for FAPI 2.0: authentication method, keys, PAR, DPoP, profile;
DPoP-bound refresh tokens

Revision ID: c4f1a9e2d7b3
Revises: b7e41f0c2a9d
Create Date: 2026-12-01 17:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c4f1a9e2d7b3'
down_revision = 'b7e41f0c2a9d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_endpoint_auth_method', sa.String(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column('jwks', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('jwks_uri', sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column('require_pushed_authorization_requests', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('dpop_bound_access_tokens', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('profile', sa.String(length=16), nullable=True))
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jkt', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('jkt')
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        for column in ('profile', 'dpop_bound_access_tokens',
                       'require_pushed_authorization_requests', 'jwks_uri', 'jwks',
                       'token_endpoint_auth_method'):
            batch_op.drop_column(column)
