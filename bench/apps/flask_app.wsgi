from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(message="hello", path=request.path, args=request.args.to_dict())


application = app
