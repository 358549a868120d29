import os
import sys

from .critic_bundle import main

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.exit(main())
