"""Several chatd nodes sharing rooms through Redis (``--cluster``): the link, presence,
the node's heartbeat and the room gate. Imported only when ``--cluster`` is given."""
