from wslib.cli import main

raise SystemExit(main())
