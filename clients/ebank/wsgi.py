from clients.ebank import create_app

app = create_app()
