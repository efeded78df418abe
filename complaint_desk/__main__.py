from complaint_desk.cli import main

main()
