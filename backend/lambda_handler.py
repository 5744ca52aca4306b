"""The AWS Lambda entry named in serverless.yml: the app under Mangum, lifespan off."""

from mangum import Mangum

from backend.main import app

handler = Mangum(app, lifespan="off")
