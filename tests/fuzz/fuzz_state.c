/*
 * Fuzz target of the persisted role state: the bytes are STATE_DIR/role.json
 * as a node finds it at start-up. state.c is #included; each input is
 * written to a private temporary folder, removed at exit.
 */
#include "engine/state.c"

#include "fuzz.h"

#include <unistd.h>

static char fuzz_dir[64];
static char fuzz_file[128];

static void
remove_dir(void)
{
	unlink(fuzz_file);
	rmdir(fuzz_dir);
}

static void
make_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_state.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz_state: mkdtemp");
		abort();
	}
	snprintf(fuzz_file, sizeof(fuzz_file), "%s/%s", fuzz_dir, STATE_FILE_NAME);
	atexit(remove_dir);
}

/*
 * The file exists, so state_load must load it (1) or refuse it (-1) with a
 * message; 0 would make a node with a damaged role.json start as a new one.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct node_state st = { .epoch = 0, .active = -2 };
	char err[1024] = "";
	FILE *f;
	int rc;

	if (fuzz_dir[0] == '\0')
		make_dir();
	if ((f = fopen(fuzz_file, "w")) == NULL ||
	    (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror("fuzz_state: writing role.json");
		abort();
	}
	rc = state_load(fuzz_dir, &st, err, sizeof(err));
	if (rc == 1 && (st.epoch < 1 || st.active < -1 || st.active >= NODE_COUNT)) {
		fprintf(stderr, "fuzz_state: loaded epoch %ju active %d\n",
		    (uintmax_t)st.epoch, st.active);
		abort();
	}
	if (rc == 0 || (rc == -1 && err[0] == '\0') || rc < -1 || rc > 1) {
		fprintf(stderr, "fuzz_state: state_load returned %d (%s) for an existing file\n",
		    rc, err);
		abort();
	}
	return 0;
}
