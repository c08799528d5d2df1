import sys

from ezsr.cli import main

sys.exit(main())
