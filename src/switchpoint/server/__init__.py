"""The HTTP server: a raw ASGI app on uvicorn (uvloop + httptools)."""
