# Raises at import time.
raise RuntimeError("failed at import")
