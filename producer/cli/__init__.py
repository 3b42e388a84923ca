"""The command line: thin click commands and the terminal's live view and tables."""
