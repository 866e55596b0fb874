from switchpoint.cli.main import main

raise SystemExit(main())
