/*
 * lifeline-plugin: runs one call of one plug-in in a process of its own,
 * so that a plug-in never runs inside lifelined. The engine runs it for
 * plug-in checks and hooks, the CLI for info and discover.
 *
 * Exit status: 0 done (or healthy), 10 the application is not healthy
 * (the reason is the first line on stdout), 2 bad usage, 11 the plug-in
 * is refused or answered nonsense (the reason is the first line on
 * stdout).
 * A plug-in that crashes takes this process with it, and the caller sees
 * the signal.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "plugin/pluginhost.h"

#define EXIT_UNHEALTHY PLUGIN_EXIT_UNHEALTHY
#define EXIT_USAGE     2
#define EXIT_BROKEN    PLUGIN_EXIT_BROKEN
#define DISCOVER_LIMIT_S 120       /* a discover that hangs is ended */

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: lifeline-plugin info PATH\n"
	    "       lifeline-plugin discover PATH [--settings FILE] [KEY=VALUE ...]\n"
	    "       lifeline-plugin check PATH CHECK [--settings FILE]\n"
	    "       lifeline-plugin hook PATH pre-start|post-start|pre-stop|post-stop "
	    "[--settings FILE]\n");
}

/*
 * Settings: a JSON object of strings from --settings FILE, then KEY=VALUE
 * words on top. NULL with why in err.
 */
static json_t *
read_settings(int argc, char **argv, int first, bool words_allowed, char *err, size_t errlen)
{
	json_t *s = json_object();

	for (int i = first; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (strcmp(argv[i], "--settings") == 0 && i + 1 < argc) {
			json_error_t je;
			json_t *file = json_load_file(argv[++i], 0, &je);
			const char *k;
			json_t *v;

			if (!json_is_object(file)) {
				snprintf(err, errlen, "settings %s: %s, expected a JSON object of "
				    "strings", argv[i], file ? "not an object" : je.text);
				json_decref(file);
				goto fail;
			}
			json_object_foreach(file, k, v)
				if (json_is_string(v))
					json_object_set(s, k, v);
			json_decref(file);
		} else if (words_allowed && eq != NULL && eq != argv[i]) {
			char *key = xasprintf("%.*s", (int)(eq - argv[i]), argv[i]);

			json_object_set_new(s, key, json_string(eq + 1));
			free(key);
		} else {
			snprintf(err, errlen, "unexpected argument \"%s\"", argv[i]);
			goto fail;
		}
	}
	return s;
fail:
	json_decref(s);
	return NULL;
}

static int
print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (text == NULL)
		return EXIT_BROKEN;
	puts(text);
	free(text);
	return 0;
}

static int
outcome_exit(enum plugin_outcome o, const char *why)
{
	if (o == PLUGIN_OK)
		return 0;
	printf("%s\n", why);
	return o == PLUGIN_FAILED ? EXIT_UNHEALTHY : EXIT_BROKEN;
}

int
main(int argc, char **argv)
{
	const char *cmd, *path;
	struct plugin_host *h = NULL;
	json_t *settings = NULL, *out;
	char err[1024], why[1024];
	int first, rc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	path = argv[2];
	first = strcmp(cmd, "check") == 0 || strcmp(cmd, "hook") == 0 ? 4 : 3;
	if (strcmp(cmd, "info") != 0 && strcmp(cmd, "discover") != 0 && first == 3) {
		fprintf(stderr, "lifeline-plugin: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc < first) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((settings = read_settings(argc, argv, first, strcmp(cmd, "discover") == 0, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "lifeline-plugin: %s\n", err);
		return EXIT_USAGE;
	}
	if ((h = plugin_host_load(path, settings, err, sizeof(err))) == NULL) {
		printf("%s\n", err);
		json_decref(settings);
		return EXIT_BROKEN;
	}
	if (strcmp(cmd, "info") == 0) {
		rc = print_json(out = plugin_host_info(h));
		json_decref(out);
	} else if (strcmp(cmd, "discover") == 0) {
		alarm(DISCOVER_LIMIT_S);
		if ((out = plugin_host_discover(h, err, sizeof(err))) == NULL) {
			printf("%s\n", err);
			rc = strstr(err, "could not discover") != NULL ? EXIT_UNHEALTHY : EXIT_BROKEN;
		} else {
			rc = print_json(out);
			json_decref(out);
		}
	} else if (strcmp(cmd, "check") == 0) {
		rc = outcome_exit(plugin_host_check(h, argv[3], why, sizeof(why)), why);
	} else {
		rc = outcome_exit(plugin_host_hook(h, argv[3], why, sizeof(why)), why);
	}
	fflush(stdout);
	plugin_host_free(h);
	json_decref(settings);
	return rc;
}
