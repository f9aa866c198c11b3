# Sourced by the load benchmarks (run.sh, capacity.sh, profile-tandem.sh, transports.sh,
# cluster.sh). Every load client runs on this host from one or a few loopback addresses,
# so the limits per client address and on open connections (SECURITY.md) would refuse
# the benchmark's own clients, or close them as flooders at high rates (the message rate
# per address alone is 1,000/s by default: 100 documents × 5 clients at 2 updates/s). The
# limits are raised far past any load rather than set to 0 ("no limit"), so the server
# still does its accounting per message, as in production, but never refuses.
# bench/abuse.sh and bench/soak.sh keep the defaults on purpose (they test the limits).
# shellcheck shell=bash
BIG=1000000000
export TANDEM_MAX_CONNECTIONS=50000 \
  TANDEM_MAX_CONNECTIONS_PER_IP=$BIG \
  TANDEM_MAX_NEW_CONNECTIONS_PER_IP_PER_SEC=$BIG \
  TANDEM_MAX_DOCUMENTS_PER_IP=$BIG \
  TANDEM_MAX_SESSIONS_PER_IP=$BIG \
  TANDEM_MAX_UPDATES_PER_CLIENT_PER_SEC=$BIG \
  TANDEM_MAX_APPLY_MS_PER_SEC=1000000 \
  TANDEM_MAX_DOCUMENT_APPLY_MS_PER_SEC=1000000 \
  TANDEM_MAX_WRITE_BYTES_PER_CLIENT=$((BIG * 1000000)) \
  TANDEM_MAX_MEMORY_PER_CLIENT=$((BIG * 1000000))
# Per connection: the trace scenario replays a whole editing session from one writer as
# fast as the server acknowledges it, far past what a person types (which would close
# the writer with 1008 after its 10-second burst allowance).
export TANDEM_MAX_UPDATES_PER_SEC=$BIG
unset BIG
