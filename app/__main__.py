"""`python -m app` runs the movierec command line."""

from app.cli import main

main()
