from controlroom.cli import main

raise SystemExit(main())
