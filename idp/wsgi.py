"""The WSGI application of an installed IdP: ``idp.wsgi:app`` (what ``idp serve`` runs)."""

from . import create_app

app = create_app()
