"""One module per chatbench subcommand, each exporting ``SCENARIO``."""
