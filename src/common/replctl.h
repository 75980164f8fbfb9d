/*
 * The control protocol between lifelined and lifeline-repl on one node: the
 * same framing as the CLI's (common/ctl.h: one JSON object per line over a
 * UNIX stream socket, mode 0600, in state_dir), with these requests. The
 * engine decides roles and the chain; lifeline-repl does what it is told
 * and reports. lifeline-repl outlives lifelined (engine stop
 * --leave-apps-running), so either may restart while the other runs.
 *
 *   {"cmd":"status"}
 *     -> {"ok":true, "replication":{...}}   the status JSON's "replication"
 *        object (CONTRACT.md fields and more: role, epoch, durable_seq,
 *        applied_seq, needs_check, upstream, downstream[], mounts[], pid)
 *
 *   {"cmd":"role", "role":"passive", "epoch":N, "active":NODE,
 *    "upstream":NODE|null, "downstream":[NODE...]}
 *     -> {"ok":true} at once: capture unmounted (if it was mounted), the
 *        stream of upstream accepted, records applied, relayed downstream.
 *
 *   {"cmd":"role", "role":"active", "epoch":N, "active":SELF,
 *    "downstream":[NODE...]}
 *     -> answered when this node may serve: the upstream's stream closed,
 *        every durable record applied, epoch N begun in the journal, the
 *        capture mounted over every protected directory. {"ok":true,
 *        "last_seq":S}, or {"ok":false,"error":...}: the applications
 *        must not start (their writes would not be captured).
 *        Idempotent: already active in epoch N answers at once.
 *
 *   {"cmd":"drain", "timeout_ms":T}
 *     -> on the active, once its applications are stopped (switchover):
 *        capture unmounted, journal synced, answered when every downstream
 *        node acknowledged the last record: {"ok":true,"last_seq":S}, or
 *        {"ok":false,"error":...} after T ms naming who lags by how much.
 *
 *   {"cmd":"check", "full":BOOL, "rehash":BOOL}
 *     -> {"ok":true, "check":{...}} a full (or targeted) system check was
 *        started on the active; progress is in status "check". With
 *        rehash every node reads every file, its hash cache unused.
 *
 *   {"cmd":"check_wait", "id":N, "timeout_ms":T}
 *     -> {"ok":true, "check":{...}} once check N is no longer running, or
 *        after T ms (at most CTL_CHECK_WAIT_MAX_MS) with it still running:
 *        the caller asks again.
 *
 *   {"cmd":"stop"}
 *     -> {"ok":true}, then lifeline-repl unmounts and exits.
 */
#ifndef LIFELINE_REPLCTL_H
#define LIFELINE_REPLCTL_H

#define REPLCTL_SOCKET_NAME   "lifeline-repl.sock"   /* inside state_dir */
#define REPLCTL_PROGRAM       "lifeline-repl"        /* next to lifelined */

#endif
