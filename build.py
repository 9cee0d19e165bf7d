from nyhetsbrev.cli import cli

cli()
