# sync mode (every write waits for the stand-by): the power-off runs of
# repl_fsync_failover, five of them.
LIFELINE_REPL_MODE=sync LIFELINE_FSYNC_RUNS=${LIFELINE_FSYNC_RUNS:-5} \
	exec bash "$(dirname "$0")/repl_fsync_failover.sh"
