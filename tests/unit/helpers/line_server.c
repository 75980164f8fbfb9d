/* The fake control socket of line_server.h: one thread, poll, up to MAX_CONN clients. */
#include "helpers/line_server.h"
#include "common/util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONN 16
#define LINE_MAX_BYTES 8192

struct line_server {
	int		 lfd;
	atomic_bool	 stop;
	pthread_t	 thread;
	line_fn		*fn;
	void		*arg;
	char		 buf[MAX_CONN][LINE_MAX_BYTES];   /* each client's partial line */
};

void
line_server_send(int fd, json_t *answer)
{
	char *text = json_dumps(answer, JSON_COMPACT);
	size_t len = strlen(text);

	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	(void)!send(fd, text, len, MSG_NOSIGNAL);
	free(text);
	json_decref(answer);
}

static void *
serve(void *arg)
{
	struct line_server *ls = arg;
	struct pollfd pfd[1 + MAX_CONN];
	size_t used[MAX_CONN] = { 0 };

	pfd[0] = (struct pollfd){ .fd = ls->lfd, .events = POLLIN };
	for (int i = 1; i <= MAX_CONN; i++)
		pfd[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	while (!ls->stop) {
		if (poll(pfd, 1 + MAX_CONN, 50) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			int fd = accept(ls->lfd, NULL, NULL);

			for (int i = 1; fd >= 0 && i <= MAX_CONN; i++)
				if (pfd[i].fd < 0) {
					pfd[i].fd = fd;
					used[i - 1] = 0;
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		for (int i = 1; i <= MAX_CONN; i++) {
			char *b = ls->buf[i - 1], *nl;
			ssize_t got;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = recv(pfd[i].fd, b + used[i - 1], LINE_MAX_BYTES - 1 - used[i - 1], 0);
			if (got <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			used[i - 1] += (size_t)got;
			b[used[i - 1]] = '\0';
			while ((nl = strchr(b, '\n')) != NULL) {
				*nl = '\0';
				ls->fn(ls->arg, pfd[i].fd, b);
				used[i - 1] -= (size_t)(nl + 1 - b);
				memmove(b, nl + 1, used[i - 1] + 1);
			}
		}
	}
	for (int i = 1; i <= MAX_CONN; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return NULL;
}

struct line_server *
line_server_start(const char *path, line_fn *fn, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct line_server *ls;

	if (strlen(path) >= sizeof(sun.sun_path))
		return NULL;
	strcpy(sun.sun_path, path);
	unlink(path);
	ls = xcalloc(1, sizeof(*ls));
	ls->fn = fn;
	ls->arg = arg;
	if ((ls->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(ls->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(ls->lfd, 16) < 0 ||
	    pthread_create(&ls->thread, NULL, serve, ls) != 0) {
		if (ls->lfd >= 0)
			close(ls->lfd);
		free(ls);
		return NULL;
	}
	return ls;
}

void
line_server_stop(struct line_server *ls)
{
	if (ls == NULL)
		return;
	ls->stop = true;
	pthread_join(ls->thread, NULL);
	close(ls->lfd);
	free(ls);
}
