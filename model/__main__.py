from nuchter.cli import main

main()
