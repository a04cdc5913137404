"""The command line: one thin module per command over the library; `app` holds the Typer app and the options they share."""
