"""One module per CLI subcommand; each imports only click at the top (see spotidance.cli)."""
