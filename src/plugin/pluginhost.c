/*
 * Loading a plug-in and judging it: its declaration when loaded, every
 * value it hands to the add_* functions, every result it returns. Nothing
 * a plug-in says is used before it has been checked here.
 */
#include "plugin/pluginhost.h"
#include "common/util.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHY_MAX 512

struct plugin_host {
	void                         *dl;
	const struct lifeline_plugin *p;
	json_t                       *settings;   /* borrowed */
	json_t                       *found;      /* during discover */
	char                          refused[320]; /* the first value refused, or "" */
	char                          warning[320]; /* the last warning it logged */
};

static struct plugin_host *
host_of(struct lifeline_host *h)
{
	return (struct plugin_host *)(void *)h;
}

bool
plugin_name_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool
service_name_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

/* Text from a plug-in: bounded, printable, one line, UTF-8 (JSON takes nothing else). */
static bool
text_valid(const char *s, size_t max)
{
	size_t n;
	json_t *probe;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	if ((probe = json_string(s)) == NULL)
		return false;
	json_decref(probe);
	return true;
}

/* An absolute path without "." or ".." components, below /. */
static bool
path_valid(const char *s)
{
	const char *c;

	if (!text_valid(s, PATH_MAX - 1) || s[0] != '/' || strcmp(s, "/") == 0)
		return false;
	for (c = s; *c != '\0'; c++) {
		if (*c != '/')
			continue;
		if (c[1] == '/' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')) ||
		    (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0')))
			return false;
	}
	return c[-1] != '/';
}

/* Remember the first value refused; -1 for the add_* that refused it. */
static int
refuse(struct plugin_host *ph, const char *fmt, ...)
{
	va_list ap;

	if (ph->refused[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(ph->refused, sizeof(ph->refused), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void
api_log(struct lifeline_host *h, enum lifeline_log_level level, const char *msg)
{
	struct plugin_host *ph = host_of(h);
	char line[320];

	snprintf(line, sizeof(line), "%s", msg != NULL ? msg : "(null)");
	utf8_sanitize(line);
	fprintf(stderr, "plugin %s: %s%s\n", ph->p->name,
	    level >= LIFELINE_LOG_WARNING ? "warning: " : "", line);
	if (level >= LIFELINE_LOG_WARNING)
		snprintf(ph->warning, sizeof(ph->warning), "%s", line);
}

static const char *
api_setting(struct lifeline_host *h, const char *key)
{
	struct plugin_host *ph = host_of(h);

	if (ph->settings == NULL || key == NULL)
		return NULL;
	return json_string_value(json_object_get(ph->settings, key));
}

/* Append s to found[key] unless it is there already. */
static void
found_add(struct plugin_host *ph, const char *key, json_t *v)
{
	json_t *arr = json_object_get(ph->found, key);
	size_t i;
	json_t *old;

	json_array_foreach(arr, i, old)
		if (json_equal(old, v)) {
			json_decref(v);
			return;
		}
	json_array_append_new(arr, v);
}

static int
api_add_data(struct lifeline_host *h, const char *dir)
{
	struct plugin_host *ph = host_of(h);

	if (ph->found == NULL)
		return refuse(ph, "add_data called outside discover");
	if (!path_valid(dir))
		return refuse(ph, "add_data \"%.200s\" is not an absolute path below /", dir ? dir : "(null)");
	found_add(ph, "data", json_string(dir));
	return 0;
}

static int
api_add_config(struct lifeline_host *h, const char *path)
{
	struct plugin_host *ph = host_of(h);

	if (ph->found == NULL)
		return refuse(ph, "add_config called outside discover");
	if (!path_valid(path))
		return refuse(ph, "add_config \"%.200s\" is not an absolute path below /",
		    path ? path : "(null)");
	found_add(ph, "config", json_string(path));
	return 0;
}

static int
api_add_service(struct lifeline_host *h, const struct lifeline_service *s)
{
	struct plugin_host *ph = host_of(h);
	json_t *o;

	if (ph->found == NULL)
		return refuse(ph, "add_service called outside discover");
	if (s == NULL || s->size < offsetof(struct lifeline_service, reserved))
		return refuse(ph, "add_service given a struct of %u bytes, expected at least %zu",
		    s ? s->size : 0, offsetof(struct lifeline_service, reserved));
	if (!service_name_valid(s->name))
		return refuse(ph, "add_service name \"%.80s\" is not 1 to 64 of letters, digits, "
		    "'_', '.', '@' or '-'", s->name ? s->name : "(null)");
	if ((s->unit == NULL) == (s->start == NULL))
		return refuse(ph, "add_service %s gives %s, expected either a unit or a start "
		    "command", s->name, s->unit ? "both a unit and a start command" : "neither");
	if ((s->unit && !text_valid(s->unit, 255)) || (s->start && !text_valid(s->start, 1000)) ||
	    (s->stop && !text_valid(s->stop, 1000)) || (s->after && !text_valid(s->after, 1000)))
		return refuse(ph, "add_service %s has an empty, overlong or multi-line field", s->name);
	o = json_pack("{s:s}", "name", s->name);
	if (s->unit)
		json_object_set_new(o, "unit", json_string(s->unit));
	if (s->start)
		json_object_set_new(o, "start", json_string(s->start));
	if (s->stop)
		json_object_set_new(o, "stop", json_string(s->stop));
	if (s->after)
		json_object_set_new(o, "after", json_string(s->after));
	found_add(ph, "services", o);
	return 0;
}

static int
api_add_check(struct lifeline_host *h, const struct lifeline_check *c)
{
	struct plugin_host *ph = host_of(h);

	if (ph->found == NULL)
		return refuse(ph, "add_check called outside discover");
	if (c == NULL || c->size < offsetof(struct lifeline_check, reserved))
		return refuse(ph, "add_check given a struct of %u bytes, expected at least %zu",
		    c ? c->size : 0, offsetof(struct lifeline_check, reserved));
	if (!service_name_valid(c->service) || !plugin_name_valid(c->check))
		return refuse(ph, "add_check needs a service name and a check name of 1 to 32 of "
		    "[a-z0-9_-]");
	if (c->interval_ms != 0 && c->timeout_ms >= c->interval_ms)
		return refuse(ph, "add_check %s: timeout %u ms is not shorter than interval %u ms",
		    c->check, c->timeout_ms, c->interval_ms);
	found_add(ph, "checks", json_pack("{s:s, s:s, s:I, s:I}", "service", c->service,
	    "check", c->check, "interval_ms", (json_int_t)c->interval_ms,
	    "timeout_ms", (json_int_t)c->timeout_ms));
	return 0;
}

static int
api_add_rule(struct lifeline_host *h, const char *rule)
{
	struct plugin_host *ph = host_of(h);

	if (ph->found == NULL)
		return refuse(ph, "add_rule called outside discover");
	if (!text_valid(rule, 1000) || strchr(rule, ':') == NULL)
		return refuse(ph, "add_rule \"%.80s\" is not \"NAME: EXPRESSION\" on one line",
		    rule ? rule : "(null)");
	found_add(ph, "rules", json_string(rule));
	return 0;
}

static const struct lifeline_host_api host_api = {
	.api_version = LIFELINE_PLUGIN_API_VERSION,
	.size = sizeof(struct lifeline_host_api),
	.log = api_log,
	.setting = api_setting,
	.add_data = api_add_data,
	.add_config = api_add_config,
	.add_service = api_add_service,
	.add_check = api_add_check,
	.add_rule = api_add_rule,
};

/* The declaration: version, size, name, texts and the functions every plug-in has. */
static const char *
declaration_problem(const struct lifeline_plugin *p, char *buf, size_t len)
{
	if (p == NULL)
		return "its entry point returned NULL";
	if (p->api_version != LIFELINE_PLUGIN_API_VERSION) {
		snprintf(buf, len, "it was built for plug-in API version %u, this Lifeline has "
		    "version %u", p->api_version, LIFELINE_PLUGIN_API_VERSION);
		return buf;
	}
	if (p->size < offsetof(struct lifeline_plugin, reserved)) {
		snprintf(buf, len, "its declaration is %u bytes, expected at least %zu", p->size,
		    offsetof(struct lifeline_plugin, reserved));
		return buf;
	}
	if (!plugin_name_valid(p->name))
		return "its name is not 1 to 32 of [a-z0-9_-]";
	if (!text_valid(p->version, 64) || !text_valid(p->summary, 200))
		return "its version or summary is empty, overlong or not one line";
	if (p->discover == NULL || p->check == NULL)
		return "it has no discover or no check function";
	return NULL;
}

struct plugin_host *
plugin_host_load(const char *path, json_t *settings, char *err, size_t errlen)
{
	const struct lifeline_plugin *(*entry)(void);
	struct plugin_host *ph;
	const char *problem;
	char buf[256];
	void *dl;

	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
		return NULL;
	}
	*(void **)&entry = dlsym(dl, LIFELINE_PLUGIN_ENTRY);
	if (entry == NULL) {
		snprintf(err, errlen, "%s is not a Lifeline plug-in: it exports no %s", path,
		    LIFELINE_PLUGIN_ENTRY);
		dlclose(dl);
		return NULL;
	}
	ph = xcalloc(1, sizeof(*ph));
	ph->dl = dl;
	ph->p = entry();
	ph->settings = settings;
	if ((problem = declaration_problem(ph->p, buf, sizeof(buf))) != NULL) {
		snprintf(err, errlen, "%s is refused: %s", path, problem);
		plugin_host_free(ph);
		return NULL;
	}
	return ph;
}

void
plugin_host_free(struct plugin_host *h)
{
	if (h == NULL)
		return;
	json_decref(h->found);
	dlclose(h->dl);
	free(h);
}

json_t *
plugin_host_info(const struct plugin_host *h)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:b}", "name", h->p->name,
	    "version", h->p->version, "summary", h->p->summary,
	    "api_version", (int)h->p->api_version, "hooks", h->p->hook != NULL);
}

json_t *
plugin_host_discover(struct plugin_host *h, char *err, size_t errlen)
{
	json_t *found;
	int rc;

	h->found = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "data", "config", "services",
	    "checks", "rules");
	h->refused[0] = h->warning[0] = '\0';
	rc = h->p->discover((struct lifeline_host *)(void *)h, &host_api);
	found = h->found;
	h->found = NULL;
	if (h->refused[0] != '\0')
		snprintf(err, errlen, "plug-in %s declared something invalid: %s", h->p->name,
		    h->refused);
	else if (rc == LIFELINE_FAILED)
		snprintf(err, errlen, "plug-in %s could not discover its application%s%s",
		    h->p->name, h->warning[0] ? ": " : "", h->warning);
	else if (rc != LIFELINE_OK)
		snprintf(err, errlen, "plug-in %s: discover returned %d, which is neither "
		    "LIFELINE_OK nor LIFELINE_FAILED", h->p->name, rc);
	else
		return found;
	json_decref(found);
	return NULL;
}

/* A check's or hook's result and reason, judged. */
static enum plugin_outcome
judge(struct plugin_host *h, const char *what, int rc, char *reason, size_t reasonlen,
    char *why, size_t whylen)
{
	reason[reasonlen - 1] = '\0';          /* whatever it wrote, a string ends here */
	utf8_sanitize(reason);
	reason[strcspn(reason, "\r\n")] = '\0';
	if (rc == LIFELINE_OK)
		return PLUGIN_OK;
	if (rc == LIFELINE_FAILED) {
		snprintf(why, whylen, "%s", reason[0] ? reason : "(the plug-in gave no reason)");
		return PLUGIN_FAILED;
	}
	snprintf(why, whylen, "plug-in %s: %s returned %d, which is neither LIFELINE_OK nor "
	    "LIFELINE_FAILED", h->p->name, what, rc);
	return PLUGIN_BROKEN;
}

enum plugin_outcome
plugin_host_check(struct plugin_host *h, const char *check, char *why, size_t whylen)
{
	char reason[WHY_MAX] = "";
	int rc;

	rc = h->p->check((struct lifeline_host *)(void *)h, &host_api, check, reason,
	    sizeof(reason));
	return judge(h, "check", rc, reason, sizeof(reason), why, whylen);
}

static const char *const hook_names[] = {
	[LIFELINE_HOOK_PRE_START] = "pre-start", [LIFELINE_HOOK_POST_START] = "post-start",
	[LIFELINE_HOOK_PRE_STOP] = "pre-stop", [LIFELINE_HOOK_POST_STOP] = "post-stop",
};

enum plugin_outcome
plugin_host_hook(struct plugin_host *h, const char *when, char *why, size_t whylen)
{
	char reason[WHY_MAX] = "";
	int rc;

	for (size_t i = 0; i < nitems(hook_names); i++) {
		if (strcmp(hook_names[i], when) != 0)
			continue;
		if (h->p->hook == NULL)
			return PLUGIN_OK;
		rc = h->p->hook((struct lifeline_host *)(void *)h, &host_api,
		    (enum lifeline_hook)i, reason, sizeof(reason));
		return judge(h, "hook", rc, reason, sizeof(reason), why, whylen);
	}
	snprintf(why, whylen, "no hook \"%s\", expected pre-start, post-start, pre-stop or "
	    "post-stop", when);
	return PLUGIN_BROKEN;
}
