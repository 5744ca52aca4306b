"""The AWS Lambda entries named in serverless.yml: the app under Mangum, and the daily purge.

`API_BASE_PATH` serves the app under a REST API stage or custom-domain base path
(for example `/prod`): routes keep their `/api/...` paths, and the URLs the app
writes carry the prefix.
"""

import os
from typing import Any

from mangum import Mangum

from backend.config import require_database
from backend.main import app
from backend.middleware import BasePath

require_database()
handler = Mangum(BasePath(app, os.environ.get("API_BASE_PATH", "")), lifespan="off")


def purge(event: dict[str, Any], context: Any) -> dict[str, int]:
    """The scheduled job (an EventBridge rule): delete tasks trashed past TRASH_RETENTION_DAYS."""
    from backend import trash
    from backend.db import get_engine

    return {"purged": trash.purge_expired(get_engine())}
