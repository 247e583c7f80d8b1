"""The command line of the contract: commands, views, check."""
