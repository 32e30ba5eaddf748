from tailor.cli import app

app()
