"""A Flask application (Debian's python3-flask)."""

import flask
from flask import Flask, jsonify, request

application = Flask(__name__)


@application.route("/")
def index():
    return "Flask %s on mod_rwsgi\n" % flask.__version__


@application.route("/hello/<name>")
def hello(name):
    return jsonify(hello=name, method=request.method, script_name=request.script_root)
