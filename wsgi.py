"""WSGI entry point: ``granian --interface wsgi wsgi:app`` (what ``idp serve`` runs)."""

from idp import create_app

app = create_app()
