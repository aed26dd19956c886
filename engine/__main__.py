import sys

from .cli import main
from .outputs import install_signal_cleanup

# A command-line process: SIGTERM/SIGHUP unwind like Ctrl-C, so temporaries are removed.
install_signal_cleanup()
sys.exit(main())
