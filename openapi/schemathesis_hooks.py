"""Schemathesis hooks for openapi/check: a subscriber import is JSON lines (application/x-ndjson), sent as
the text it is."""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
