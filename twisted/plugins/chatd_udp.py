"""The ``udp:`` server endpoint string (``--udp udp:7778:interface=127.0.0.1``)."""

from chatd.frontends.udp.endpoint import UDPServerParser

udp_endpoint = UDPServerParser()
