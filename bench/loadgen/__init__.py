"""The load generator behind ``bench/chatbench.py``, split by what each part owns.

* ``loopback``, ``measure``: free ports and the fd limit; CPU and RSS from ``/proc``, medians.
* ``daemon``, ``peers``, ``redis_server``, ``target``: the servers a run starts (chatd and
  chatd-members, ngircd and InspIRCd, redis-server) and the one whose figures are read.
* ``wires``, ``conn``, ``traffic``, ``accounts``: the clients: each protocol's bytes, one
  asyncio socket, closed-loop and paced senders with their order checkers, account logins.
* ``scenario``, ``runs``: what a subcommand is, and how one run of it is started and repeated.
* ``scenarios``: one module per subcommand.
"""
