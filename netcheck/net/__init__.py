"""The one network layer every probe, the CRL download, raw diagnosis and the listener build on.

resolve   getaddrinfo off the event loop (a hung resolver never holds the loop or its shutdown)
sockets   TCP connect and UDP sockets that report the ICMP error and its sender (IP_RECVERR)
streams   deadline-bounded byte streams with capped lines and in-place TLS
http      the small HTTP/1.1 GET (CRL downloads, GETs through a proxy), built on the three above

Nothing here imports a probe: the dependencies point down, from probes, certs, raw and listen to net.
"""
