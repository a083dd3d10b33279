import os
import sys

# The tests call train_ssd.main() in-process, like the command line would.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
