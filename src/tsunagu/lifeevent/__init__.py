"""Life events: one-stop bundles, proactive (push) services, private-sector subscribers."""
