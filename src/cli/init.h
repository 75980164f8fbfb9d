/*
 * lifeline init: makes a new cluster's TLS files (a cluster CA and one
 * certificate per node, see common/tls.h for the layout and the identity
 * they carry) in the configuration's tls_dir.
 */
#ifndef LIFELINE_INIT_H
#define LIFELINE_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

#define INIT_USAGE	"init [-f FILE] [--force]"
#define INIT_VALID_DAYS	3652		/* ten years, leap days included */

/*
 * Write into conf->tls_dir (created 0755 if missing): ca.crt (0644) and
 * ca.key (0600), a new Ed25519 CA, and for every node of conf->mode
 * NODE.crt (0644) and NODE.key (0600), signed by that CA, valid
 * INIT_VALID_DAYS. Each file is replaced atomically; the CA files are
 * written last, so a run that fails half-way leaves no new CA behind and
 * can simply be run again. An existing ca.crt or ca.key is replaced only
 * with force. Returns 0, or -1 with a message naming the file in err.
 */
int init_write_tls(const struct config *conf, bool force, char *err,
    size_t errlen);

/*
 * `lifeline init [-f FILE] [--force]`, argv[0] = "init". Loads FILE
 * (CONFIG_DEFAULT_PATH without -f), calls init_write_tls() and tells the
 * administrator what was written and what to copy where. Returns the exit
 * code: 0 done, 1 failed (one line on stderr), 2 bad usage.
 */
int init_main(int argc, char **argv);

#endif
