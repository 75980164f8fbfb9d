/*
 * Replay driver for builds without libFuzzer (gcc, or any build where
 * LIFELINE_FUZZ is off): runs every file of the folders (or the files)
 * named on the command line through LLVMFuzzerTestOneInput, in name order,
 * so the seed corpus and every crash ever found stay regression tests.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Read a whole file into an exact-size buffer, so over-reads are caught. */
static int
replay_file(const char *path)
{
	struct stat sb;
	uint8_t *buf;
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &sb) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	buf = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
	if (buf == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	if (n != (size_t)sb.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int
only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int
main(int argc, char **argv)
{
	struct dirent **names;
	struct stat sb;
	int i, j, n, count = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(sb.st_mode)) {
			failed |= replay_file(argv[i]) == -1;
			count++;
			continue;
		}
		if ((n = scandir(argv[i], &names, only_files, alphasort)) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		for (j = 0; j < n; j++) {
			char *path;

			if (asprintf(&path, "%s/%s", argv[i], names[j]->d_name) == -1) {
				fprintf(stderr, "replay: out of memory\n");
				return 1;
			}
			/* One line before each input: a crash names its file. */
			fprintf(stderr, "replay: %s\n", path);
			failed |= replay_file(path) == -1;
			count++;
			free(path);
			free(names[j]);
		}
		free(names);
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input in %s\n", argv[1]);
		return 1;
	}
	printf("replay: %d inputs, %s\n", count, failed ? "some unreadable" : "no crash");
	return failed;
}
