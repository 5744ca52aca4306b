"""The AWS Lambda entry named in serverless.yml: the app under Mangum, lifespan off.

`API_BASE_PATH` strips a REST API stage or custom-domain base path (for example
`/prod`) so that routes keep their `/api/...` paths.
"""

import os

from mangum import Mangum

from backend.config import require_database
from backend.main import app

require_database()
handler = Mangum(app, lifespan="off", api_gateway_base_path=os.environ.get("API_BASE_PATH", "/"))
