"""Certificate pre-flight: read appliance certificate material and judge it the way the
appliance's upload does. Pure analysis lives in checks/chain/crl; the network part is
net.http. Nothing here is imported at CLI start-up except `cli.add_parser`.
"""
