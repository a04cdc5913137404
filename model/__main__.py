from nuchter.cli.main import main

main()
