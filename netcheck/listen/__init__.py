"""The far-side listener: `netcheck listen` answers the tokens a scan sends, so a flow is
proven end to end (UDP included) and silence becomes a definite `blocked`. The token wire format
(netcheck/tokens.py) is shared with the scan's listener probe, so neither side imports the other.

server    the asyncio TCP + UDP listener: rate limits, bounded memory, a receipt
endpoints which ports a role's listener opens (profile inbound flows, site overrides)
receipt   the JSON receipt written on exit, and join_receipt() for `netcheck report --receipt`
run       one listening session (typed arguments; reports through callables)
scanning  the scan's side: which flows the listener probe tests (listener_hooks)
cli       the `listen` sub-command and the scan option --listener
"""
