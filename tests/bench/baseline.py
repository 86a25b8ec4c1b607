"""The baseline: a bare Flask JSON endpoint, served exactly like the IdP."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/json")
def hello():
    return jsonify(message="hello")
