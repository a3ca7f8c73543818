"""Shared files: the store (``store``), signed download links (``links``) and the HTTP
resource that serves a file given a valid link (``web``)."""
