from wattbench.cli import main

main()
