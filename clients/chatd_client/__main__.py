"""``python -m chatd_client``: the same as the ``chatd-client`` script, for a source tree."""

from chatd_client.main import main

main()
