import sys

from ezsr.training.cli import main

sys.exit(main())
