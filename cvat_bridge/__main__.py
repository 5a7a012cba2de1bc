from cvat_bridge.cli import main

main()
