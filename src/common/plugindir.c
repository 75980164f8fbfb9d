/*
 * The plug-in folder: what is one plug-in's, put and taken away whole.
 */
#include "common/plugindir.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether file is one of plug-in name's: "NAME." then more. */
static bool
is_file_of(const char *file, const char *name)
{
	size_t n = strlen(name);

	return strncmp(file, name, n) == 0 && file[n] == '.' && file[n + 1] != '\0';
}

int
plugindir_remove(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *path;

		if (!is_file_of(de->d_name, name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(path) == 0)
			removed++;
		free(path);
	}
	if (d != NULL)
		closedir(d);
	return removed;
}

/* A file's mode by its kind: the plug-in readable, start scripts runnable, the rest root's. */
static mode_t
mode_of(const char *file)
{
	size_t n = strlen(file);

	if (n > 3 && strcmp(file + n - 3, ".so") == 0)
		return 0644;
	if (n > 6 && strcmp(file + n - 6, ".start") == 0)
		return 0700;
	return 0600;
}

static bool
is_fragment(const char *file)
{
	size_t n = strlen(file);

	return n > 5 && strcmp(file + n - 5, ".conf") == 0;
}

int
plugindir_put(const char *dir, const struct wire_plugin_files *req, char *err, size_t errlen)
{
	if (mkdir_p(dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	plugindir_remove(dir, req->plugin);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < req->nfiles; i++) {
			const struct wire_plugin_file *f = &req->files[i];
			char *path;
			int rc;

			if (is_fragment(f->name) != (pass == 1))
				continue;
			path = xasprintf("%s/%s", dir, f->name);
			rc = write_file_atomic(path, f->data, f->len, mode_of(f->name));
			if (rc < 0)
				snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
			free(path);
			if (rc < 0) {
				plugindir_remove(dir, req->plugin);
				return -1;
			}
		}
	}
	return 0;
}

int
plugindir_read(const char *dir, const char *name, struct wire_plugin_files *req, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	memset(req, 0, sizeof(*req));
	req->op = WIRE_PLUGIN_PUT;
	snprintf(req->plugin, sizeof(req->plugin), "%s", name);
	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct wire_plugin_file *f;
		char *path;
		size_t len;

		if (!is_file_of(de->d_name, name))
			continue;
		if (req->nfiles == WIRE_PLUGIN_MAX_FILES || strlen(de->d_name) > WIRE_PLUGIN_FILE_NAME) {
			snprintf(err, errlen, "plug-in %s has more files than %d, or a name too long",
			    name, WIRE_PLUGIN_MAX_FILES);
			goto fail;
		}
		f = &req->files[req->nfiles];
		snprintf(f->name, sizeof(f->name), "%s", de->d_name);
		path = xasprintf("%s/%s", dir, de->d_name);
		f->data = (const uint8_t *)read_file(path, WIRE_AGENT_MAX_PAYLOAD / 2, &len);
		if (f->data == NULL) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			free(path);
			goto fail;
		}
		f->len = (uint32_t)len;
		req->nfiles++;
		free(path);
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	plugindir_release(req);
	return -1;
}

void
plugindir_release(struct wire_plugin_files *req)
{
	for (size_t i = 0; i < req->nfiles; i++)
		free((void *)req->files[i].data);
	req->nfiles = 0;
}
