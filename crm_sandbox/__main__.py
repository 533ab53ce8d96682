import sys

from crm_sandbox.cli import main

sys.exit(main())
