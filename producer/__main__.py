"""``python -m producer``."""

from producer.cli.commands import main

main()
