/*
 * Unit tests of engine/decide: the failover rules of ARCHITECTURE.md as a
 * table, one row per case, read as "this node, seeing this, must do that".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "common/util.h"
#include "engine/decide.h"

#define T	3000			/* failover.timeout in every row */

#define PRI	NODE_PRIMARY
#define SEC	NODE_SECONDARY
#define TER	NODE_TERTIARY
#define NOBODY	(-1)

#define HA	MODE_HA
#define DR	MODE_DR
#define TRIO	MODE_HA_DR
#define ACTV	ROLE_ACTIVE
#define PASV	ROLE_PASSIVE

/* This node: identity, mode, role, persisted epoch, active in it, ever_in_sync, auto. */
#define ST(self_, mode_, role_, epoch_, active_, ever_, auto_) {	\
	.self = (self_), .mode = (mode_), .role = (role_),		\
	.persisted = { .epoch = (epoch_), .active = (active_),		\
	    .ever_in_sync = (ever_) },					\
	.auto_failover = (auto_), .timeout_ms = T }

/* A peer's heartbeat flags. */
#define PING	0x1			/* reaches its ping targets */
#define VOTE	0x2			/* reports the active lost */
#define SYNC	0x4			/* its copy is in sync (seen by the active) */

/* A met peer: ms silent, epoch, role, node it holds active, flags. */
#define PEER(silent_, epoch_, role_, active_, f_) {			\
	.met = true, .silent_ms = (silent_), .epoch = (epoch_),		\
	.role = (role_), .active = (active_),				\
	.ping_ok = ((f_) & PING) != 0, .active_lost = ((f_) & VOTE) != 0, \
	.in_sync = ((f_) & SYNC) != 0 }
#define UNMET	{ .met = false, .active = -1 }
#define SELF	UNMET			/* this node's own slot: ignored */
#define ABSENT	UNMET			/* the tertiary of a pair: ignored */

/* What this node observes of itself. */
#define INSYNC	0x01			/* its copy is in sync with the active */
#define ARP	0x02			/* the public IP answers an ARP probe */
#define MGMT	0x04			/* the active's management IP answers */
#define GARP	0x08			/* another MAC claims the public IP */
#define SVC	0x10			/* a service's action list reached switchover */

/* Peers primary, secondary, tertiary; own flags; ms without ping targets. */
#define OBS(p_, s_, t_, f_, pinglost_) {				\
	.peer = { [PRI] = p_, [SEC] = s_, [TER] = t_ },			\
	.in_sync = ((f_) & INSYNC) != 0, .public_arp = ((f_) & ARP) != 0, \
	.active_mgmt_ping = ((f_) & MGMT) != 0,				\
	.foreign_garp = ((f_) & GARP) != 0,				\
	.service_switchover = ((f_) & SVC) != 0,			\
	.ping_lost_ms = (pinglost_) }

/* Usual states: the secondary standing by for the primary, and the primary active. */
#define SEC_STANDBY	ST(SEC, HA, PASV, 5, PRI, true, true)
#define PRI_ACTIVE	ST(PRI, HA, ACTV, 5, PRI, true, true)
#define PRI_LOST(ms)	PEER(ms, 5, ACTV, PRI, PING)
#define SEC_OK		PEER(0, 5, PASV, PRI, PING | SYNC)

struct row {
	const char		*what;
	struct decide_state	 st;
	struct observations	 obs;
	enum action		 action;
	int			 target;
	enum veto		 veto;
	const char		*says;		/* a part of the reason */
};

static const struct row rows[] = {
	/* Rule 1: a passive HA node takes over a lost active. */
	{ "rule 1: active silent exactly the timeout, all conditions met",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, INSYNC, 0),
	  ACT_FAILOVER, NOBODY, VETO_NONE, "taking epoch 6" },
	{ "rule 1: active silent 1 ms less than the timeout",
	  SEC_STANDBY, OBS(PRI_LOST(T - 1), SELF, ABSENT, INSYNC, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "primary is active in epoch 5" },
	{ "rule 1: active alive",
	  SEC_STANDBY, OBS(PRI_LOST(0), SELF, ABSENT, INSYNC, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "primary is active in epoch 5" },
	{ "rule 1: active silent long past the timeout",
	  SEC_STANDBY, OBS(PRI_LOST(60000), SELF, ABSENT, INSYNC, 0),
	  ACT_FAILOVER, NOBODY, VETO_NONE, "silent for 60000 ms" },
	{ "rule 1: this node reaches its ping targets only 1 ms late",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, INSYNC, 1),
	  ACT_VETO, NOBODY, VETO_NO_PUBLIC_CONNECTIVITY, "ping targets for 1 ms" },
	{ "rule 1: this node has lost its ping targets for long",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, INSYNC, 2 * T),
	  ACT_VETO, NOBODY, VETO_NO_PUBLIC_CONNECTIVITY, "ping targets" },
	{ "rule 1: the public IP still answers an ARP probe",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, INSYNC | ARP, 0),
	  ACT_VETO, NOBODY, VETO_ACTIVE_STILL_VISIBLE, "public IP" },
	{ "rule 1: the active's management IP still answers",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, INSYNC | MGMT, 0),
	  ACT_VETO, NOBODY, VETO_ACTIVE_STILL_VISIBLE, "management IP" },
	{ "rule 1: auto = no",
	  ST(SEC, HA, PASV, 5, PRI, true, false),
	  OBS(PRI_LOST(T), SELF, ABSENT, INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_AUTO_OFF, "off" },
	{ "rule 1: auto = no is named before a missing sync",
	  ST(SEC, HA, PASV, 5, PRI, true, false),
	  OBS(PRI_LOST(T), SELF, ABSENT, 0, 0),
	  ACT_VETO, NOBODY, VETO_AUTO_OFF, "off" },

	/* Rule 1, trio: the tertiary's vote. */
	{ "trio: the tertiary also lost the active",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, PEER(0, 5, PASV, PRI, PING | VOTE), INSYNC, 0),
	  ACT_FAILOVER, NOBODY, VETO_NONE, "taking epoch 6" },
	{ "trio: the tertiary still hears the active",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, PEER(0, 5, PASV, PRI, PING), INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_TERTIARY_DISAGREES, "still hears" },
	{ "trio: the tertiary silent for the timeout cannot vote",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, PEER(T, 5, PASV, PRI, PING | VOTE), INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_TERTIARY_DISAGREES, "not heard" },
	{ "trio: the tertiary's vote 1 ms before its own timeout counts",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, PEER(T - 1, 5, PASV, PRI, PING | VOTE), INSYNC, 0),
	  ACT_FAILOVER, NOBODY, VETO_NONE, "taking epoch 6" },
	{ "trio: a tertiary never met cannot vote",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, UNMET, INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_TERTIARY_DISAGREES, "not heard" },
	{ "trio: the primary takes over a lost secondary the same way",
	  ST(PRI, TRIO, PASV, 8, SEC, true, true),
	  OBS(SELF, PEER(T, 8, ACTV, SEC, PING), PEER(0, 8, PASV, SEC, VOTE), INSYNC, 0),
	  ACT_FAILOVER, NOBODY, VETO_NONE, "taking epoch 9" },

	/* Rules 4 and 5: who may never take over automatically. */
	{ "rule 4: the tertiary never fails over",
	  ST(TER, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), PEER(T, 5, PASV, PRI, PING), SELF, INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "make-active --force" },
	{ "rule 4: no automatic move back from an active tertiary",
	  ST(PRI, TRIO, PASV, 6, TER, true, true),
	  OBS(SELF, PEER(0, 6, PASV, TER, PING | VOTE), PEER(T, 6, ACTV, TER, PING), INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "never automatic" },
	{ "rule 4: mode dr never fails over",
	  ST(SEC, DR, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, ABSENT, INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "never automatic" },
	{ "rule 5: not in sync",
	  SEC_STANDBY, OBS(PRI_LOST(T), SELF, ABSENT, 0, 0),
	  ACT_VETO, NOBODY, VETO_NOT_IN_SYNC, "not in sync" },
	{ "rule 5: never synced",
	  ST(SEC, HA, PASV, 1, PRI, false, true),
	  OBS(PEER(T, 1, ACTV, PRI, PING), SELF, ABSENT, 0, 0),
	  ACT_VETO, NOBODY, VETO_NEVER_SYNCED, "never in sync" },
	{ "rule 5: the persisted first sync counts, not a fresh in-sync",
	  ST(SEC, HA, PASV, 1, PRI, false, true),
	  OBS(PEER(T, 1, ACTV, PRI, PING), SELF, ABSENT, INSYNC, 0),
	  ACT_VETO, NOBODY, VETO_NEVER_SYNCED, "never in sync" },

	/* A passive behind the cluster's epoch never acts on its old view. */
	{ "passive follows a new active in a newer epoch",
	  ST(TER, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), PEER(0, 6, ACTV, SEC, PING), SELF, INSYNC, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "secondary is active in epoch 6" },
	{ "passive behind a peer's epoch waits instead of failing over",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(PRI_LOST(T), SELF, PEER(0, 7, PASV, PRI, PING | VOTE), INSYNC, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "newer than ours" },

	/* Rule 8: start-up. */
	{ "rule 8: was active, met no peer",
	  ST(PRI, HA, PASV, 5, PRI, true, true),
	  OBS(SELF, UNMET, ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "met no peer" },
	{ "rule 8: was active, meets the peer in the same epoch",
	  ST(PRI, HA, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 5, PASV, PRI, PING), ABSENT, 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "highest epoch 5" },
	{ "rule 8: was active, the peer moved the epoch on",
	  ST(PRI, HA, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 6, PASV, SEC, PING), ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "newer than ours" },
	{ "rule 8: was active, the peer serves in a newer epoch",
	  ST(PRI, HA, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 6, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "secondary is active in epoch 6" },
	{ "rule 8: was active, met the peer once but lost it",
	  ST(PRI, HA, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(T, 5, PASV, PRI, PING), ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "waiting to hear secondary" },
	{ "rule 8: auto = no does not stop a resume",
	  ST(PRI, HA, PASV, 5, PRI, true, false),
	  OBS(SELF, PEER(0, 5, PASV, PRI, PING), ABSENT, 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "highest epoch" },
	{ "rule 8: the stand-by starting alone waits",
	  SEC_STANDBY, OBS(UNMET, SELF, ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "met no peer" },
	{ "rule 8: the stand-by meets the old active, still passive",
	  SEC_STANDBY, OBS(PEER(0, 5, PASV, PRI, PING), SELF, ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "is heard" },
	{ "rule 8: met the tertiary but not the active",
	  ST(SEC, TRIO, PASV, 5, PRI, true, true),
	  OBS(UNMET, SELF, PEER(0, 5, PASV, PRI, PING), 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "has not heard primary" },
	{ "rule 8: new cluster, the primary starts alone",
	  ST(PRI, HA, PASV, 1, PRI, false, true),
	  OBS(SELF, UNMET, ABSENT, 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "no stand-by was ever in sync" },
	{ "rule 8: new cluster, but another MAC claims the public IP",
	  ST(PRI, HA, PASV, 1, PRI, false, true),
	  OBS(SELF, UNMET, ABSENT, GARP, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "another MAC" },
	{ "rule 8: new cluster, forced secondary holds a newer epoch",
	  ST(PRI, HA, PASV, 1, PRI, false, true),
	  OBS(SELF, PEER(T * 2, 2, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "epoch 2" },
	{ "rule 8: trio, the HA partner's word alone is not enough",
	  ST(PRI, TRIO, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 5, PASV, PRI, PING), UNMET, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "waiting to hear tertiary" },
	{ "rule 8: trio, the tertiary's word is enough",
	  ST(PRI, TRIO, PASV, 5, PRI, true, true),
	  OBS(SELF, UNMET, PEER(0, 5, PASV, PRI, PING), 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "highest epoch 5" },
	{ "rule 8: tertiary active by force needs both HA nodes",
	  ST(TER, TRIO, PASV, 7, TER, true, true),
	  OBS(PEER(0, 6, PASV, PRI, PING), UNMET, SELF, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "waiting to hear secondary" },
	{ "rule 8: tertiary active by force resumes when both are heard",
	  ST(TER, TRIO, PASV, 7, TER, true, true),
	  OBS(PEER(0, 6, PASV, PRI, PING), PEER(0, 7, PASV, TER, PING), SELF, 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "highest epoch 7" },
	{ "rule 8: mode dr resumes too: it is no failover",
	  ST(PRI, DR, PASV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 5, PASV, PRI, PING), ABSENT, 0, 0),
	  ACT_RESUME_ACTIVE, NOBODY, VETO_NONE, "highest epoch" },
	{ "rule 8: nobody was active in the epoch",
	  ST(SEC, HA, PASV, 5, NOBODY, true, true),
	  OBS(PEER(0, 5, PASV, NOBODY, PING), SELF, ABSENT, 0, 0),
	  ACT_WAIT, NOBODY, VETO_NONE, "make-active --force" },

	/* The active node, steady. */
	{ "active, all well",
	  PRI_ACTIVE, OBS(SELF, SEC_OK, ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "active, channels lost but the ping targets answer",
	  PRI_ACTIVE, OBS(SELF, PEER(T, 5, PASV, PRI, PING | SYNC), ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },

	/* Two actives. */
	{ "two actives: the peer's epoch is newer, demote at once",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 6, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "newer than ours" },
	{ "two actives: a newer active demotes us even when silent since",
	  PRI_ACTIVE, OBS(SELF, PEER(T * 5, 6, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "newer than ours" },
	{ "two actives: the peer's epoch is older, it demotes, not us",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 4, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "two actives: same epoch, records disagree, primary stays",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 5, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "two actives: same epoch, records disagree, secondary demotes",
	  ST(SEC, HA, ACTV, 5, SEC, true, true),
	  OBS(PEER(0, 5, ACTV, PRI, PING), SELF, ABSENT, 0, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "outranks" },
	{ "two actives: same epoch, both records name the secondary: it stays",
	  ST(SEC, HA, ACTV, 5, SEC, true, true),
	  OBS(PEER(0, 5, ACTV, SEC, PING), SELF, ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "two actives: same epoch, both records name the secondary: primary demotes",
	  ST(PRI, HA, ACTV, 5, SEC, true, true),
	  OBS(SELF, PEER(0, 5, ACTV, SEC, PING), ABSENT, 0, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "both records name it" },
	{ "two actives: records agree on a third node, node order decides",
	  ST(PRI, TRIO, ACTV, 5, TER, true, true),
	  OBS(SELF, PEER(0, 5, ACTV, TER, PING), PEER(0, 5, PASV, TER, PING), 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "a passive peer in a newer epoch is no second active",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 6, PASV, SEC, PING), ABSENT, 0, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },

	/* Rule 7: a foreign claim of the public IP with every channel lost. */
	{ "rule 7: every channel lost and a foreign gratuitous ARP",
	  PRI_ACTIVE, OBS(SELF, PEER(T, 5, PASV, PRI, PING | SYNC), ABSENT, GARP, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "another MAC" },
	{ "rule 7: a foreign gratuitous ARP while a peer is heard",
	  PRI_ACTIVE, OBS(SELF, PEER(T - 1, 5, PASV, PRI, PING | SYNC), ABSENT, GARP, 0),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "rule 7: no peer ever met and a foreign gratuitous ARP",
	  ST(PRI, HA, ACTV, 1, PRI, false, true),
	  OBS(SELF, UNMET, ABSENT, GARP, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "another MAC" },

	/* Rule 2: an isolated active steps down. */
	{ "rule 2: channels and ping targets lost exactly the timeout",
	  PRI_ACTIVE, OBS(SELF, PEER(T, 5, PASV, PRI, PING | SYNC), ABSENT, 0, T),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "ping targets lost" },
	{ "rule 2: ping targets lost 1 ms less than the timeout",
	  PRI_ACTIVE, OBS(SELF, PEER(T, 5, PASV, PRI, PING | SYNC), ABSENT, 0, T - 1),
	  ACT_NONE, NOBODY, VETO_NONE, "active in epoch 5" },
	{ "rule 2: a channel heard 1 ms before the timeout: switchover instead",
	  PRI_ACTIVE, OBS(SELF, PEER(T - 1, 5, PASV, PRI, PING | SYNC), ABSENT, 0, T),
	  ACT_SWITCHOVER_TO, SEC, VETO_NONE, "secondary reaches them" },
	{ "rule 2: trio, the tertiary still heard",
	  ST(PRI, TRIO, ACTV, 5, PRI, true, true),
	  OBS(SELF, PEER(T, 5, PASV, PRI, PING), PEER(0, 5, PASV, PRI, 0), 0, T),
	  ACT_NONE, NOBODY, VETO_NONE, "no passive reaches them" },
	{ "rule 2: trio, every channel and the ping targets lost",
	  ST(PRI, TRIO, ACTV, 5, PRI, true, true),
	  OBS(SELF, PEER(T, 5, PASV, PRI, PING), PEER(T, 5, PASV, PRI, PING), 0, T),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "every channel" },

	/* Rule 3: the active loses the public network, a passive has it. */
	{ "rule 3: switchover to the passive that reaches the targets",
	  PRI_ACTIVE, OBS(SELF, SEC_OK, ABSENT, 0, T),
	  ACT_SWITCHOVER_TO, SEC, VETO_NONE, "ping targets lost for 3000 ms" },
	{ "rule 3: the passive lost them too",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 5, PASV, PRI, SYNC), ABSENT, 0, T),
	  ACT_NONE, NOBODY, VETO_NONE, "no passive reaches them" },
	{ "rule 3: the passive is not in sync",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 5, PASV, PRI, PING), ABSENT, 0, T),
	  ACT_VETO, NOBODY, VETO_NOT_IN_SYNC, "secondary is not in sync" },
	{ "rule 3: a peer still active in an older epoch is no target",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 4, ACTV, SEC, PING | SYNC), ABSENT, 0, T),
	  ACT_NONE, NOBODY, VETO_NONE, "no passive reaches them" },
	{ "rule 3: no stand-by ever synced",
	  ST(PRI, HA, ACTV, 1, PRI, false, true),
	  OBS(SELF, PEER(0, 1, PASV, PRI, PING), ABSENT, 0, T),
	  ACT_VETO, NOBODY, VETO_NEVER_SYNCED, "ever in sync" },
	{ "rule 3: auto = no",
	  ST(PRI, HA, ACTV, 5, PRI, true, false),
	  OBS(SELF, SEC_OK, ABSENT, 0, T),
	  ACT_VETO, NOBODY, VETO_AUTO_OFF, "off" },
	{ "rule 3: mode dr",
	  ST(PRI, DR, ACTV, 5, PRI, true, true),
	  OBS(SELF, SEC_OK, ABSENT, 0, T),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "never automatic" },
	{ "rule 3: trio, the HA partner comes before the tertiary",
	  ST(PRI, TRIO, ACTV, 5, PRI, true, true),
	  OBS(SELF, SEC_OK, PEER(0, 5, PASV, PRI, PING | SYNC), 0, T),
	  ACT_SWITCHOVER_TO, SEC, VETO_NONE, "secondary" },
	{ "rule 3 and 4: trio, only the tertiary reaches them",
	  ST(PRI, TRIO, ACTV, 5, PRI, true, true),
	  OBS(SELF, PEER(0, 5, PASV, PRI, SYNC), PEER(0, 5, PASV, PRI, PING | SYNC), 0, T),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "to tertiary" },
	{ "rule 3 and 4: an active tertiary never hands back by itself",
	  ST(TER, TRIO, ACTV, 6, TER, true, true),
	  OBS(PEER(0, 6, PASV, TER, PING | SYNC), PEER(0, 6, PASV, TER, PING | SYNC), SELF, 0, T),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "never automatic" },

	/* Rule 6: a service's action list ends in a switchover. */
	{ "rule 6: service asks, the passive is fit",
	  PRI_ACTIVE, OBS(SELF, SEC_OK, ABSENT, SVC, 0),
	  ACT_SWITCHOVER_TO, SEC, VETO_NONE, "protected service" },
	{ "rule 6: service asks, no passive heard",
	  PRI_ACTIVE, OBS(SELF, UNMET, ABSENT, SVC, 0),
	  ACT_VETO, NOBODY, VETO_NO_PASSIVE, "no passive is heard" },
	{ "rule 6: service asks, the passive misses its ping targets",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 5, PASV, PRI, SYNC), ABSENT, SVC, 0),
	  ACT_VETO, NOBODY, VETO_NO_PUBLIC_CONNECTIVITY, "no passive reaches" },
	{ "rule 6: service asks, auto = no",
	  ST(PRI, HA, ACTV, 5, PRI, true, false),
	  OBS(SELF, SEC_OK, ABSENT, SVC, 0),
	  ACT_VETO, NOBODY, VETO_AUTO_OFF, "off" },
	{ "rule 6: service asks, mode dr",
	  ST(PRI, DR, ACTV, 5, PRI, true, true),
	  OBS(SELF, SEC_OK, ABSENT, SVC, 0),
	  ACT_VETO, NOBODY, VETO_DR_NEVER_AUTOMATIC, "never automatic" },
	{ "rule 6: a newer active outranks a service's request",
	  PRI_ACTIVE, OBS(SELF, PEER(0, 6, ACTV, SEC, PING), ABSENT, SVC, 0),
	  ACT_DEMOTE, NOBODY, VETO_NONE, "newer than ours" },
};

static void
test_rows(void **state)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < nitems(rows); i++) {
		const struct row *r = &rows[i];
		struct decision d;
		uint64_t epoch = r->st.persisted.epoch;

		memset(&d, 0x5a, sizeof(d));
		decide(&r->st, &r->obs, &d);
		if (d.action != r->action || d.target != r->target ||
		    d.veto != r->veto || strstr(d.reason, r->says) == NULL ||
		    d.epoch != (d.action == ACT_FAILOVER ? epoch + 1 : epoch)) {
			print_error("row %zu \"%s\": got %s target %d veto %s "
			    "epoch %llu \"%s\"; expected %s target %d veto %s "
			    "saying \"%s\"\n", i, r->what, action_name(d.action),
			    d.target, veto_name(d.veto),
			    (unsigned long long)d.epoch, d.reason,
			    action_name(r->action), r->target,
			    veto_name(r->veto), r->says);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Pure: the inputs are left as they were and the answer never varies. */
static void
test_pure(void **state)
{
	size_t i;

	for (i = 0; i < nitems(rows); i++) {
		struct row copy = rows[i];
		struct decision a, b;

		memset(&a, 0, sizeof(a));
		memset(&b, 0xff, sizeof(b));
		decide(&copy.st, &copy.obs, &a);
		decide(&copy.st, &copy.obs, &b);
		assert_memory_equal(&copy.st, &rows[i].st, sizeof(copy.st));
		assert_memory_equal(&copy.obs, &rows[i].obs, sizeof(copy.obs));
		assert_int_equal(a.action, b.action);
		assert_int_equal(a.veto, b.veto);
		assert_int_equal(a.target, b.target);
		assert_int_equal(a.epoch, b.epoch);
		assert_string_equal(a.reason, b.reason);
	}
}

/* Every reason is one line that fits, even with the widest numbers. */
static void
test_reasons_fit(void **state)
{
	struct decide_state st = ST(SEC, HA, PASV, UINT64_MAX - 1, PRI, true, true);
	struct observations obs = OBS(PEER(UINT64_MAX, UINT64_MAX - 1, ACTV, PRI, PING),
	    SELF, ABSENT, INSYNC, 0);
	struct decision d;
	size_t i;

	decide(&st, &obs, &d);
	assert_int_equal(d.action, ACT_FAILOVER);
	assert_int_equal(d.epoch, UINT64_MAX);
	assert_true(strlen(d.reason) < sizeof(d.reason) - 1);

	for (i = 0; i < nitems(rows); i++) {
		decide(&rows[i].st, &rows[i].obs, &d);
		assert_true(d.reason[0] != '\0');
		assert_true(strlen(d.reason) < sizeof(d.reason) - 1);
		assert_null(strchr(d.reason, '\n'));
	}
}

static void
check_word(const char *w)
{
	const char *c;

	assert_non_null(w);
	assert_true(w[0] != '\0' && strcmp(w, "?") != 0);
	for (c = w; *c != '\0'; c++)
		assert_true(islower((unsigned char)*c) || *c == '-');
}

static void
test_names(void **state)
{
	int i, j;

	for (i = ACT_NONE; i <= ACT_VETO; i++) {
		check_word(action_name(i));
		for (j = ACT_NONE; j < i; j++)
			assert_string_not_equal(action_name(i), action_name(j));
	}
	for (i = VETO_NONE; i <= VETO_NO_PASSIVE; i++) {
		check_word(veto_name(i));
		for (j = VETO_NONE; j < i; j++)
			assert_string_not_equal(veto_name(i), veto_name(j));
	}
	assert_string_equal(action_name(ACT_FAILOVER), "failover");
	assert_string_equal(action_name(ACT_RESUME_ACTIVE), "resume-active");
	assert_string_equal(veto_name(VETO_NOT_IN_SYNC), "not-in-sync");
	assert_string_equal(veto_name(VETO_DR_NEVER_AUTOMATIC), "dr-never-automatic");
	assert_string_equal(action_name(ACT_VETO + 1), "?");
	assert_string_equal(veto_name(VETO_NO_PASSIVE + 1), "?");
	assert_string_equal(veto_name(-1), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_pure),
		cmocka_unit_test(test_reasons_fit),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
