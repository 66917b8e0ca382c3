/*
 * relay_loop - the event loop of sekisho-relayd: one epoll set for the
 * listeners, every client session, the delivery threads' completion
 * eventfd and a signalfd.
 *
 * SUMMARY
 *	Accepts without blocking and enforces max_connections and
 *	max_per_client (421 4.7.0, then close); hands events to
 *	relay_session.c; applies the idle and session time limits once a
 *	second; reloads the mail flows file on SIGHUP and when its mtime
 *	changes (checked at most once a second).  SIGTERM/SIGINT: the
 *	listeners close, idle sessions get 421 4.3.2, sessions whose job is in
 *	progress get its answer and then 421; the loop ends when no job is left
 *	or after RELAY_SHUTDOWN_GRACE_S.
 *
 * SECURITY
 *	Runs unprivileged (after the drop in relayd.c).  Every per-client
 *	resource is bounded by the configuration's limits.
 *
 * DIAGNOSTICS
 *	One log line per refused connection; reload results are logged.
 */
#include "log.h"
#include "relay.h"
#include "relay_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* epoll data of the loop's own descriptors (sessions use data.ptr). */
#define RELAY_LOOP_TAG_EVENTFD 1u
#define RELAY_LOOP_TAG_SIGNAL 2u
#define RELAY_LOOP_TAG_LISTEN 16u /* + index */
#define RELAY_LOOP_MAX_EVENTS 64
#define RELAY_LOOP_ACCEPT_BURST 64

bool relay_loop_listen(struct relay *r)
{
	for (size_t i = 0; i < r->conf.nlisten; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&r->conf.listen[i];
		char text[RELAY_ADDR_MAX];
		int one = 1, zero = 0;

		relay_addr_text(sa, true, text, sizeof(text));
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			log_error_errno("listen %s: socket", text);
			return false;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
			log_warn_errno("listen %s: SO_REUSEADDR", text);
		if (sa->sa_family == AF_INET6 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
			log_warn_errno("listen %s: IPV6_V6ONLY", text);
		if (bind(fd, sa, r->conf.listenlen[i]) != 0) {
			log_error_errno("listen %s: bind", text);
			close(fd);
			return false;
		}
		if (listen(fd, SOMAXCONN) != 0) {
			log_error_errno("listen %s", text);
			close(fd);
			return false;
		}
		r->listen_fd[r->nlisten++] = fd;
		log_info("listening on %s", text);
	}
	return true;
}

void relay_loop_load_flows(struct relay *r)
{
	const char *path = r->conf.mailflows_file;
	struct mailflows mf;
	struct strbuf err;
	struct stat st;
	bool missing = false;

	strbuf_init(&err, 65536);
	if (stat(path, &st) == 0)
		r->flows_mtime = st.st_mtim;
	else
		memset(&r->flows_mtime, 0, sizeof(r->flows_mtime));
	if (!mailflows_load(&mf, path, &missing, &err)) {
		log_error("mail flows %s not loaded (the previous list stays): %s", path,
		          err.s ? err.s : "");
		strbuf_free(&err);
		return;
	}
	if (r->flows_loaded)
		mailflows_free(&r->flows);
	r->flows = mf;
	r->flows_loaded = true;
	if (missing)
		log_warn("mail flows %s: missing; no redirected connection is accepted", path);
	else
		log_info("mail flows %s: %zu flows", path, r->flows.n);
	strbuf_free(&err);
}

/* Reload when the file's mtime changed (at most once per second). */
static void relay_loop_check_flows(struct relay *r, time_t now)
{
	struct stat st;
	struct timespec m = {0, 0};

	if (now == r->flows_checked)
		return;
	r->flows_checked = now;
	if (stat(r->conf.mailflows_file, &st) == 0)
		m = st.st_mtim;
	if (m.tv_sec != r->flows_mtime.tv_sec || m.tv_nsec != r->flows_mtime.tv_nsec)
		relay_loop_load_flows(r);
}

void relay_loop_update(struct relay_session *s)
{
	struct epoll_event ev;

	if (s->dead)
		return;
	uint32_t want = relay_session_wants(s);
	if (s->registered && want == s->events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = s;
	if (epoll_ctl(s->r->epfd, s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) != 0) {
		log_error_errno("session %llu: epoll_ctl", (unsigned long long)s->id);
		relay_session_close(s, "421 4.3.0 Internal error");
		return;
	}
	s->registered = true;
	s->events = want;
}

/* Refuse an accepted connection over a limit: 421 and close. */
static void relay_loop_refuse(struct relay *r, int fd, const char *peer, const char *why)
{
	struct strbuf line;

	strbuf_init(&line, 1024);
	strbuf_printf(&line, "421 4.7.0 %s Error: %s\r\n", r->conf.hostname, why);
	(void)send(fd, line.s, line.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	strbuf_free(&line);
	close(fd);
	relay_stats_add(&relay_stats.refused, 1);
	log_info("refused: client=%s reason=\"%s\"", peer, why);
}

static void relay_loop_accept(struct relay *r, int lfd)
{
	for (int i = 0; i < RELAY_LOOP_ACCEPT_BURST; i++) {
		struct sockaddr_storage peer;
		socklen_t peerlen = sizeof(peer);
		char text[RELAY_ADDR_MAX];

		int fd =
		    accept4(lfd, (struct sockaddr *)&peer, &peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn_errno("accept");
			return;
		}
		struct sockaddr_storage norm = peer;
		socklen_t normlen = peerlen;
		relay_addr_normalise(&norm, &normlen);
		relay_addr_text((struct sockaddr *)&norm, false, text, sizeof(text));
		if (r->conf.max_connections && r->nsessions >= r->conf.max_connections) {
			relay_loop_refuse(r, fd, text, "too many connections");
			continue;
		}
		unsigned same = 0;
		for (struct relay_session *s = r->sessions; s; s = s->next)
			if (!s->dead && relay_addr_same_ip((struct sockaddr *)&s->peer,
			                                   (struct sockaddr *)&norm))
				same++;
		if (r->conf.max_per_client && same >= r->conf.max_per_client) {
			relay_loop_refuse(r, fd, text, "too many connections from your address");
			continue;
		}
		relay_session_start(r, fd, &peer, peerlen);
	}
}

static void relay_loop_completions(struct relay *r)
{
	uint64_t v;

	while (read(r->evfd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	struct relay_job *job = relay_deliver_completed(r);
	while (job) {
		struct relay_job *next = job->next;
		job->next = NULL;
		relay_session_job_done(job->s, job);
		relay_job_free(job);
		job = next;
	}
}

static void relay_loop_stop(struct relay *r)
{
	if (r->stopping)
		return;
	r->stopping = true;
	r->stop_started = time(NULL);
	log_info("stopping: %u sessions, %u jobs in progress", r->nsessions, r->njobs);
	for (size_t i = 0; i < r->nlisten; i++) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->listen_fd[i], NULL);
		close(r->listen_fd[i]);
	}
	r->nlisten = 0;
	struct relay_session *s = r->sessions, *next;
	for (; s; s = next) {
		next = s->next;
		if (!s->job && !s->dead)
			relay_session_close(s, "421 4.3.2 Service shutting down");
	}
}

static void relay_loop_signal(struct relay *r)
{
	struct signalfd_siginfo si;

	while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_info("SIGHUP: reloading the mail flows");
			relay_loop_load_flows(r);
			break;
		case SIGTERM:
		case SIGINT:
			relay_loop_stop(r);
			break;
		default:
			break;
		}
	}
}

static bool relay_loop_add(struct relay *r, int fd, uint64_t tag)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = tag;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		log_error_errno("epoll_ctl");
		return false;
	}
	return true;
}

int relay_loop_run(struct relay *r)
{
	struct epoll_event evs[RELAY_LOOP_MAX_EVENTS];
	time_t last_tick = 0, stats_started = time(NULL), stats_last = 0;

	for (size_t i = 0; i < r->nlisten; i++)
		if (!relay_loop_add(r, r->listen_fd[i], RELAY_LOOP_TAG_LISTEN + i))
			return 1;
	if (!relay_loop_add(r, r->evfd, RELAY_LOOP_TAG_EVENTFD) ||
	    !relay_loop_add(r, r->sigfd, RELAY_LOOP_TAG_SIGNAL))
		return 1;

	for (;;) {
		if (r->stopping) {
			if (r->njobs == 0 && !r->sessions)
				break;
			if (time(NULL) - r->stop_started >= RELAY_SHUTDOWN_GRACE_S) {
				log_warn("stopping: %u jobs still in progress after %d s; their "
				         "clients get no answer and will retry",
				         r->njobs, RELAY_SHUTDOWN_GRACE_S);
				break;
			}
		}
		int n = epoll_wait(r->epfd, evs, RELAY_LOOP_MAX_EVENTS, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == RELAY_LOOP_TAG_EVENTFD)
				relay_loop_completions(r);
			else if (tag == RELAY_LOOP_TAG_SIGNAL)
				relay_loop_signal(r);
			else if (tag >= RELAY_LOOP_TAG_LISTEN &&
			         tag < RELAY_LOOP_TAG_LISTEN + RELAY_CONF_MAX_LISTEN) {
				if (!r->stopping)
					relay_loop_accept(
					    r, r->listen_fd[tag - RELAY_LOOP_TAG_LISTEN]);
			} else
				relay_session_event(evs[i].data.ptr, evs[i].events);
		}
		time_t now = time(NULL);
		if (now != last_tick) {
			last_tick = now;
			struct relay_session *s = r->sessions, *next;
			for (; s; s = next) {
				next = s->next;
				relay_session_tick(s, now);
			}
			if (!r->stopping)
				relay_loop_check_flows(r, now);
			relay_stats_tick(r->conf.stats_file, r->conf.metrics_file, r->nsessions,
			                 stats_started, now, &stats_last);
		}
		relay_session_reap(r);
	}
	relay_session_reap(r);
	relay_stats_write(r->conf.stats_file, r->conf.metrics_file, r->nsessions, stats_started);
	return 0;
}
