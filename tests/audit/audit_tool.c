/*
 * audit_tool - drives common/audit.c for tests/audit/run_tests.py:
 *
 *   audit_tool write LOG KEY N           open (anchor) and append N records
 *   audit_tool threads LOG KEY T PER     T threads append PER records each
 *   audit_tool open LOG KEY              open only; exit 1 with the reason
 *   audit_tool unit DIR                  self-contained checks (key modes,
 *                                        resume, broken tail, parser,
 *                                        verdict summaries)
 *
 * Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include "audit.h"
#include "strbuf.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int tool_write(const char *log, const char *key, long n)
{
	struct strbuf err = STRBUF_INIT;
	struct audit *a = audit_open(log, key, &err);

	if (!a) {
		fprintf(stderr, "%s\n", err.s);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		char data[128];

		snprintf(data, sizeof(data),
		         "{\"i\":%ld,\"pid\":%ld,\"text\":\"r\\u00e9cord \\\"%ld\\\"\"}", i,
		         (long)getpid(), i);
		if (audit_append(a, "test", data, &err) < 0) {
			fprintf(stderr, "%s\n", err.s);
			audit_close(a);
			return 1;
		}
	}
	audit_close(a);
	strbuf_free(&err);
	return 0;
}

struct tool_thread {
	struct audit *a;
	long per, id;
	int failed;
};

static void *tool_thread_run(void *arg)
{
	struct tool_thread *t = arg;
	struct strbuf err = STRBUF_INIT;

	for (long i = 0; i < t->per; i++) {
		char data[96];

		snprintf(data, sizeof(data), "{\"thread\":%ld,\"pid\":%ld,\"i\":%ld}", t->id,
		         (long)getpid(), i);
		if (audit_append(t->a, "test", data, &err) < 0) {
			fprintf(stderr, "thread %ld: %s\n", t->id, err.s);
			t->failed = 1;
			break;
		}
	}
	strbuf_free(&err);
	return NULL;
}

static int tool_threads(const char *log, const char *key, long nt, long per)
{
	struct strbuf err = STRBUF_INIT;
	struct audit *a = audit_open(log, key, &err);
	pthread_t tid[16];
	struct tool_thread t[16];
	int failed = 0;

	if (!a || nt < 1 || nt > 16) {
		fprintf(stderr, "%s\n", err.s ? err.s : "1..16 threads");
		return 1;
	}
	for (long i = 0; i < nt; i++) {
		t[i].a = a;
		t[i].per = per;
		t[i].id = i;
		t[i].failed = 0;
		pthread_create(&tid[i], NULL, tool_thread_run, &t[i]);
	}
	for (long i = 0; i < nt; i++) {
		pthread_join(tid[i], NULL);
		failed |= t[i].failed;
	}
	audit_close(a);
	strbuf_free(&err);
	return failed;
}

static void unit_key(const char *dir, const char *name, mode_t mode, size_t len, const char *expect)
{
	struct strbuf path = STRBUF_INIT, err = STRBUF_INIT;
	unsigned char key[AUDIT_KEY_MAX], buf[64] = {1, 2, 3};
	int fd, got;

	strbuf_printf(&path, "%s/%s", dir, name);
	unlink(path.s);
	fd = open(path.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len);
	close(fd);
	CHECK(chmod(path.s, mode) == 0);
	got = audit_key_load(path.s, key, &err);
	if (expect) {
		CHECK(got < 0);
		if (!err.s || !strstr(err.s, expect)) {
			fprintf(stderr, "key %s: expected \"%s\" in \"%s\"\n", name, expect,
			        err.s ? err.s : "");
			failures++;
		}
	} else {
		CHECK(got == (int)len);
	}
	strbuf_free(&path);
	strbuf_free(&err);
}

static int tool_unit(const char *dir)
{
	struct strbuf log = STRBUF_INIT, key = STRBUF_INIT, err = STRBUF_INIT, rep = STRBUF_INIT;
	unsigned char k[AUDIT_KEY_MAX];
	char head1[AUDIT_HEX_LEN + 1], head2[AUDIT_HEX_LEN + 1];
	uint64_t seq1, seq2;
	struct audit *a;
	struct audit_rec r;
	const char *v;
	size_t vl;
	int kl, fd;

	/* key files: mode and size */
	unit_key(dir, "k600", 0600, 32, NULL);
	unit_key(dir, "k400", 0400, 64, NULL);
	unit_key(dir, "k640", 0640, 32, "accessible by group or others (mode 0640)");
	unit_key(dir, "k604", 0604, 32, "accessible by group or others (mode 0604)");
	unit_key(dir, "k620", 0620, 32, "accessible by group or others");
	unit_key(dir, "kshort", 0600, 31, "fewer than 32");
	{
		struct strbuf p = STRBUF_INIT;

		strbuf_printf(&p, "%s/kdir", dir);
		mkdir(p.s, 0700);
		CHECK(audit_key_load(p.s, k, &err) < 0 && strstr(err.s, "not a regular file"));
		strbuf_reset(&err);
		strbuf_free(&p);
	}

	/* resume after reopen keeps the chain; audit_head follows */
	strbuf_printf(&log, "%s/unit.jsonl", dir);
	strbuf_printf(&key, "%s/unit.key", dir);
	unlink(log.s);
	unlink(key.s);
	CHECK(audit_key_generate(key.s, &err) == 0);
	CHECK(audit_key_generate(key.s, &err) < 0); /* never overwrites */
	strbuf_reset(&err);
	a = audit_open(log.s, key.s, &err);
	CHECK(a != NULL);
	if (!a)
		return 1;
	CHECK(audit_append(a, "test", "{\"n\":1}", &err) == 0);
	CHECK(audit_append(a, "anchor", "{}", &err) < 0);        /* reserved */
	CHECK(audit_append(a, "Bad Type", "{}", &err) < 0);      /* type charset */
	CHECK(audit_append(a, "test", "{\"a\":1,}", &err) < 0);  /* not JSON */
	CHECK(audit_append(a, "test", "[1]", &err) < 0);         /* not an object */
	CHECK(audit_append(a, "test", "{\"a\":\n1}", &err) < 0); /* one line */
	audit_head(a, &seq1, head1);
	CHECK(seq1 == 2); /* anchor at open + one record */
	audit_close(a);
	a = audit_open(log.s, key.s, &err);
	CHECK(a != NULL);
	if (!a)
		return 1;
	audit_head(a, &seq2, head2);
	CHECK(seq2 == 3); /* the new anchor continues the chain */
	CHECK(audit_append(a, "test", "{\"n\":2}", &err) == 0);
	audit_close(a);
	kl = audit_key_load(key.s, k, &err);
	CHECK(kl >= AUDIT_KEY_MIN);
	CHECK(audit_verify(log.s, "unit", k, (size_t)kl, NULL, &rep) == 0);
	CHECK(strstr(rep.s, "unit: 4 records intact") != NULL);

	/* a broken tail refuses the open: nothing is appended after damage */
	fd = open(log.s, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "{\"seq\":5,", 9) == 9);
	close(fd);
	strbuf_reset(&err);
	a = audit_open(log.s, key.s, &err);
	CHECK(a == NULL);
	CHECK(err.s && strstr(err.s, "the last record is incomplete"));
	audit_close(a);

	/* a different key sees the tail as broken */
	CHECK(truncate(log.s, 0) == 0);
	{
		struct strbuf key2 = STRBUF_INIT;

		strbuf_printf(&key2, "%s/unit2.key", dir);
		unlink(key2.s);
		CHECK(audit_key_generate(key2.s, &err) == 0);
		a = audit_open(log.s, key.s, &err);
		audit_close(a);
		strbuf_reset(&err);
		a = audit_open(log.s, key2.s, &err);
		CHECK(a == NULL && err.s && strstr(err.s, "HMAC does not match"));
		audit_close(a);
		strbuf_free(&key2);
	}

	/* parser */
	{
		static const char good[] =
		    "{\"seq\":7,\"time\":1,\"type\":\"x.y_z-1\",\"data\":{\"a\":[1,2.5e3,-0,true,"
		    "null,{\"b\":\"\\u00e9\"}]},\"prev\":\"000000000000000000000000000000000000000"
		    "0000000000000000000000000\",\"hmac\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaa\"}";
		CHECK(audit_parse_line(good, strlen(good), &r) == NULL);
		CHECK(r.seq == 7 && strcmp(r.type, "x.y_z-1") == 0);
		CHECK(audit_parse_line(good, strlen(good) - 1, &r) != NULL);
		CHECK(audit_parse_line("{\"seq\":07,", 10, &r) != NULL);
		CHECK(audit_parse_line("", 0, &r) != NULL);
	}

	/* verdict summaries */
	{
		static const char verdict[] =
		    "{\"status\":\"sanitized\",\"removed\":[{\"a\":1},{\"b\":[2]}"
		    "],\"viruses\":[],\"x\":{\"removed\":[1]}}";
		CHECK(audit_json_member(verdict, strlen(verdict), "removed", &v, &vl));
		CHECK(audit_json_count(v, vl) == 2);
		CHECK(audit_json_member(verdict, strlen(verdict), "viruses", &v, &vl));
		CHECK(vl == 2 && audit_json_count(v, vl) == 0);
		CHECK(!audit_json_member(verdict, strlen(verdict), "nothere", &v, &vl));
		CHECK(!audit_json_member("{\"a\":", 5, "a", &v, &vl));
	}
	{
		struct audit_head_ref h;

		CHECK(audit_head_parse(
		    "12:"
		    "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
		    &h));
		CHECK(h.seq == 12 && h.hmac[0] == 'a');
		CHECK(!audit_head_parse("12:abc", &h));
		CHECK(!audit_head_parse("x:", &h));
	}
	strbuf_free(&log);
	strbuf_free(&key);
	strbuf_free(&err);
	strbuf_free(&rep);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "write") == 0)
		return tool_write(argv[2], argv[3], atol(argv[4]));
	if (argc == 6 && strcmp(argv[1], "threads") == 0)
		return tool_threads(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	if (argc == 4 && strcmp(argv[1], "open") == 0) {
		struct strbuf err = STRBUF_INIT;
		struct audit *a = audit_open(argv[2], argv[3], &err);

		if (!a) {
			fprintf(stderr, "%s\n", err.s);
			return 1;
		}
		audit_close(a);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "unit") == 0)
		return tool_unit(argv[2]);
	fputs("usage: audit_tool write|threads|open|unit ...\n", stderr);
	return 2;
}
