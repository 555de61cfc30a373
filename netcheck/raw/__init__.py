"""Raw-packet diagnosis of failed flows (scapy, imported lazily; root or CAP_NET_RAW).

privilege  can this process send raw packets? (and the message when it cannot)
packets    a full-TTL probe (SYN or datagram) and a traceroute toward the flow's port
diagnose   the scan hook: runs after the scan over the failed flows, within one time budget
hook       the typed option raw= (True / False / None: when privileged) -> that hook, for scanner.scan_hooks
cli        the command line's --no-raw
"""
