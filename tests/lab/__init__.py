"""Network-namespace lab: real daemons behind an nftables router (root only)."""
