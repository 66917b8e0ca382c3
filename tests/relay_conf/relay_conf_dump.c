/*
 * relay_conf_dump - golden-test driver: relay_conf_dump [--check] FILE
 * loads FILE over the defaults and prints the messages (stdout), then, when
 * the file parsed, every value as "key = value" in the file's own syntax
 * (so a dump is itself a valid relayd.conf: tested as a round trip by
 * run.sh).  The host name and the number of workers are machine-dependent
 * defaults and are printed as <default> unless the file set them.
 * Exit: 0 parsed (and checked), 1 errors.
 */
#include "relay_conf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *dump_tls(enum relay_tls_mode m)
{
	static const char *const names[] = {"none", "may", "encrypt", "verify"};

	return (unsigned)m < 4 ? names[m] : "?";
}

static void dump_endpoint(const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		printf("[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		printf("%s:%u", a, ntohs(in->sin_port));
	}
}

static void dump_str(const char *key, const char *v)
{
	if (v)
		printf("%s = %s\n", key, v);
	else
		printf("# %s unset\n", key);
}

static void dump(const struct relay_conf *c, const struct relay_conf *d)
{
	for (size_t i = 0; i < c->nlisten; i++) {
		printf("listen = ");
		dump_endpoint(&c->listen[i]);
		printf("\n");
	}
	if (strcmp(c->hostname, d->hostname) == 0)
		printf("# hostname <default>\n");
	else
		dump_str("hostname", c->hostname);
	dump_str("user", c->user);
	dump_str("tls_cert_file", c->tls_cert_file);
	dump_str("tls_key_file", c->tls_key_file);
	dump_str("tls_ca_file", c->tls_ca_file);
	printf("transparent_tls = %s\n", dump_tls(c->transparent_tls));
	printf("max_message_bytes = %zu\n", c->max_message_bytes);
	printf("max_recipients = %u\n", c->max_recipients);
	printf("max_connections = %u\n", c->max_connections);
	printf("max_per_client = %u\n", c->max_per_client);
	printf("session_timeout_s = %u\n", c->session_timeout_s);
	printf("idle_timeout_s = %u\n", c->idle_timeout_s);
	printf("nexthop_timeout_s = %u\n", c->nexthop_timeout_s);
	printf("data_timeout_s = %u\n", c->data_timeout_s);
	if (c->workers == d->workers)
		printf("# workers <default>\n");
	else
		printf("workers = %u\n", c->workers);
	printf("worker_timeout_s = %u\n", c->worker_timeout_s);
	dump_str("scan_db", c->scan_db);
	dump_str("sanitize_policy", c->sanitize_policy);
	dump_str("worker_tmpdir", c->worker_tmpdir);
	dump_str("quarantine_dir", c->quarantine_dir);
	printf("retention_days = %u\n", c->retention_days);
	dump_str("mailflows_file", c->mailflows_file);
	for (size_t i = 0; i < c->nroutes; i++) {
		printf("route = %s ", c->routes[i].domain);
		dump_endpoint(&c->routes[i].addr);
		printf(" tls=%s # line %u, as written %s\n", dump_tls(c->routes[i].tls),
		       c->routes[i].line, c->routes[i].host);
	}
	for (size_t i = 0; i < c->nexplicit_clients; i++) {
		char a[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *ss = &c->explicit_clients[i].addr;
		const void *p = ss->ss_family == AF_INET6
		                    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		                    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
		inet_ntop(ss->ss_family, p, a, sizeof(a));
		printf("explicit_clients = %s/%u\n", a, c->explicit_clients[i].prefix);
	}
}

int main(int argc, char **argv)
{
	struct relay_conf c, d;
	struct strbuf err = STRBUF_INIT;
	bool check = argc == 3 && strcmp(argv[1], "--check") == 0, ok;
	const char *path = argv[argc - 1];

	if (argc != 2 && !check) {
		fputs("usage: relay_conf_dump [--check] FILE\n", stderr);
		return 2;
	}
	relay_conf_init(&c);
	relay_conf_init(&d);
	ok = relay_conf_load(&c, path, &err);
	if (ok && check)
		ok = relay_conf_check(&c, path, &err);
	fputs(err.s ? err.s : "", stdout);
	if (ok)
		dump(&c, &d);
	relay_conf_free(&c);
	relay_conf_free(&d);
	strbuf_free(&err);
	return ok ? 0 : 1;
}
