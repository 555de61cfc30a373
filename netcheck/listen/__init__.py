"""The far-side listener: `netcheck listen` answers the tokens a scan sends, so a flow is
proven end to end (UDP included) and silence becomes a definite `blocked`.

tokens    the wire format of a probe token and its echo (42 bytes each)
server    the asyncio TCP + UDP listener: rate limits, bounded memory, a receipt
endpoints which ports a role's listener opens (profile inbound flows, site overrides)
receipt   the JSON receipt written on exit, and join_receipt() for `netcheck report --receipt`
run       one listening session (typed arguments; reports through callables)
scanning  the scan's side: which flows the listener probe tests (listener_hooks)
cli       the `listen` sub-command and the scan option --listener
"""
