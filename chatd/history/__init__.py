"""History: what was said, kept for members who were away (``memory``, ``files``), and
plain-text transcripts for operators (``transcripts``). Each is a listener on the bus."""
