"""Cloud-connected sensors: endpoint lists, the sensor's six failure categories, trust in
public roots, service-tag prefixes. The probe itself is netcheck/probes/cloud.py."""
