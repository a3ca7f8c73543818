"""chatd-client: the bundled line client (``chatd-client HOST [PORT]``); see ``main``."""
