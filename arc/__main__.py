"""`python -m arc …` is the `arc` command."""

from arc.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="arc")
