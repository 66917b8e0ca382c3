/*
 * quarantine_test - the quarantine store: round trip, idempotent store,
 * prune by age, failure paths (path not a directory, file size limit),
 * modes, and crash consistency (a child storing is SIGKILLed at random
 * moments; every entry left must be complete).
 */
#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static char base[256];

static void test_path(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", base, name);

	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "path too long\n");
		exit(1);
	}
}

static void test_entry_path(char *buf, size_t size, const char *store, const char *id,
                            const char *file)
{
	int n = snprintf(buf, size, "%s/%.2s/%s/%s", store, id, id + 2, file);

	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "path too long\n");
		exit(1);
	}
}

static int test_count_cb(void *ctx, const struct quarantine_entry *e)
{
	int *n = ctx;

	CHECK(strlen(e->id) == QUARANTINE_ID_LEN);
	CHECK(e->meta_json && e->meta_json[0] == '[');
	(*n)++;
	return 0;
}

static int test_count(struct quarantine *q)
{
	struct strbuf err = STRBUF_INIT;
	int n = 0;

	CHECK(quarantine_list(q, test_count_cb, &n, &err) == 0);
	strbuf_free(&err);
	return n;
}

static size_t test_count_meta(const char *store, const char *id)
{
	char path[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	test_entry_path(path, sizeof(path), store, id, "");
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "meta", 4) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_round_trip(void)
{
	static const char msg[] = "From: a@example.jp\r\nSubject: x\r\n\r\nbody\r\n";
	char store[512], id[QUARANTINE_ID_LEN + 1], id2[QUARANTINE_ID_LEN + 1], path[600];
	struct strbuf err = STRBUF_INIT, m = STRBUF_INIT, meta = STRBUF_INIT;
	struct quarantine *q;
	struct stat st;

	test_path(store, sizeof(store), "rt");
	q = quarantine_open(store, &err);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK(quarantine_store(q, msg, sizeof(msg) - 1, "{\"verdict\":\"clean\"}", id, &err) == 0);
	/* echo -n ... | sha256sum */
	CHECK(strlen(id) == QUARANTINE_ID_LEN);
	CHECK(quarantine_get(q, id, &m, &meta, &err) == 0);
	CHECK(m.len == sizeof(msg) - 1 && memcmp(m.s, msg, m.len) == 0);
	CHECK(meta.s && strstr(meta.s, "\"verdict\":\"clean\"") && meta.s[0] == '[');
	CHECK(test_count(q) == 1);

	/* modes */
	CHECK(stat(store, &st) == 0 && (st.st_mode & 07777) == 0700);
	test_entry_path(path, sizeof(path), store, id, "message.eml");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	test_entry_path(path, sizeof(path), store, id, "meta.json");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	test_entry_path(path, sizeof(path), store, id, "");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700);

	/* idempotent: same id, message untouched, a second record */
	test_entry_path(path, sizeof(path), store, id, "message.eml");
	{
		struct stat before, after;

		CHECK(stat(path, &before) == 0);
		CHECK(quarantine_store(q, msg, sizeof(msg) - 1, "{\"n\":2}", id2, &err) == 0);
		CHECK(strcmp(id, id2) == 0);
		CHECK(stat(path, &after) == 0 && before.st_ino == after.st_ino);
	}
	CHECK(test_count_meta(store, id) == 2);
	CHECK(quarantine_store(q, msg, sizeof(msg) - 1, NULL, id2, &err) == 0);
	CHECK(test_count_meta(store, id) == 3);
	CHECK(test_count(q) == 1);
	strbuf_reset(&meta);
	CHECK(quarantine_get(q, id, NULL, &meta, &err) == 0);
	CHECK(meta.s && strstr(meta.s, "{\"n\":2}") && strstr(meta.s, "\"meta\":null"));

	/* releases */
	CHECK(quarantine_note_release(q, id, "operator1", "attachment a.pdf", "needed \"now\"",
	                              &err) == 0);
	CHECK(quarantine_note_release(q, id, "operator2", NULL, "again", &err) == 0);
	{
		struct strbuf rel = STRBUF_INIT;

		test_entry_path(path, sizeof(path), store, id, "releases.jsonl");
		CHECK(strbuf_read_file(&rel, path));
		CHECK(rel.s && strstr(rel.s, "\"who\":\"operator1\"") &&
		      strstr(rel.s, "\"reason\":\"needed \\\"now\\\"\"") &&
		      strstr(rel.s, "\"what\":null"));
		CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
		strbuf_free(&rel);
	}
	strbuf_reset(&err);
	CHECK(quarantine_note_release(q, id, "", "x", "y", &err) < 0 && err.len > 0);

	/* bad ids */
	strbuf_reset(&err);
	CHECK(quarantine_get(q, "../../etc/passwd", &m, NULL, &err) < 0 &&
	      strstr(err.s, "malformed id"));
	strbuf_reset(&err);
	CHECK(quarantine_get(q, "0000000000000000000000000000000000000000000000000000000000000000",
	                     &m, NULL, &err) < 0 &&
	      strstr(err.s, "no entry"));

	/* a message altered on disk is refused */
	{
		int fd = open(path, O_WRONLY); /* releases.jsonl: irrelevant to the hash */

		CHECK(fd >= 0);
		close(fd);
		test_entry_path(path, sizeof(path), store, id, "message.eml");
		fd = open(path, O_WRONLY | O_APPEND);
		CHECK(fd >= 0 && write(fd, "x", 1) == 1);
		close(fd);
		strbuf_reset(&err);
		CHECK(quarantine_get(q, id, &m, NULL, &err) < 0 && strstr(err.s, "does not match"));
	}
	quarantine_close(q);
	strbuf_free(&err);
	strbuf_free(&m);
	strbuf_free(&meta);
}

static void test_prune_by_age(void)
{
	char store[512], path[600], a[QUARANTINE_ID_LEN + 1], b[QUARANTINE_ID_LEN + 1];
	struct strbuf err = STRBUF_INIT;
	struct quarantine *q;
	struct timespec ts[2];
	time_t now = time(NULL);

	test_path(store, sizeof(store), "prune");
	q = quarantine_open(store, &err);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK(quarantine_store(q, "old", 3, "{}", a, &err) == 0);
	CHECK(quarantine_store(q, "new", 3, "{}", b, &err) == 0);
	test_entry_path(path, sizeof(path), store, a, "message.eml");
	ts[0].tv_sec = ts[1].tv_sec = now - 400 * 86400;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
	CHECK(quarantine_prune(q, QUARANTINE_RETENTION_DAYS_DEFAULT, now, &err) == 1);
	CHECK(access(path, F_OK) < 0);
	strbuf_reset(&err);
	CHECK(quarantine_get(q, a, NULL, NULL, &err) < 0);
	CHECK(quarantine_get(q, b, NULL, NULL, &err) == 0);
	CHECK(test_count(q) == 1);
	/* a crash leftover: an entry directory with only a temporary file */
	{
		static const char orphan[] =
		    "0000000000000000000000000000000000000000000000000000000000000000";
		char dir[600], tmp[700];
		int fd, n;

		n = snprintf(dir, sizeof(dir), "%s/00", store);
		CHECK(n > 0 && (size_t)n < sizeof(dir) && mkdir(dir, 0700) == 0);
		test_entry_path(dir, sizeof(dir), store, orphan, "");
		CHECK(mkdir(dir, 0700) == 0);
		n = snprintf(tmp, sizeof(tmp), "%s.tmp-1-1", dir);
		CHECK(n > 0 && (size_t)n < sizeof(tmp));
		fd = open(tmp, O_WRONLY | O_CREAT, 0600);
		CHECK(fd >= 0 && write(fd, "par", 3) == 3);
		close(fd);
		CHECK(test_count(q) == 1); /* never listed */
		/* fresh: left alone (a store may be writing it) */
		CHECK(quarantine_prune(q, QUARANTINE_RETENTION_DAYS_DEFAULT, now, &err) == 0);
		CHECK(access(dir, F_OK) == 0);
		CHECK(quarantine_prune(q, QUARANTINE_RETENTION_DAYS_DEFAULT,
		                       now + QUARANTINE_STALE_INCOMPLETE_S + 10, &err) == 0);
		CHECK(access(dir, F_OK) < 0);
		n = snprintf(dir, sizeof(dir), "%s/00", store);
		CHECK(n > 0 && (size_t)n < sizeof(dir) && access(dir, F_OK) < 0);
	}
	CHECK(test_count(q) == 1);
	/* an injected "now" two years on removes the rest */
	CHECK(quarantine_prune(q, QUARANTINE_RETENTION_DAYS_DEFAULT, now + 730 * 86400, &err) == 1);
	CHECK(test_count(q) == 0);
	quarantine_close(q);
	strbuf_free(&err);
}

static void test_not_a_directory(void)
{
	char file[512], store[600], id[QUARANTINE_ID_LEN + 1];
	struct strbuf err = STRBUF_INIT;
	struct quarantine *q;
	int fd, n;

	test_path(file, sizeof(file), "plainfile");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	close(fd);
	n = snprintf(store, sizeof(store), "%s/q", file);
	CHECK(n > 0 && (size_t)n < sizeof(store));
	q = quarantine_open(store, &err);
	CHECK(q == NULL && err.s && strstr(err.s, "Not a directory"));
	quarantine_close(q);

	/* the two-digit directory of the message's hash is a file */
	test_path(store, sizeof(store), "blocked");
	strbuf_reset(&err);
	q = quarantine_open(store, &err);
	CHECK(q != NULL);
	if (!q)
		return;
	CHECK(quarantine_store(q, "m", 1, "{}", id, &err) == 0);
	CHECK(quarantine_prune(q, 0, time(NULL) + 10, &err) == 1);
	n = snprintf(file, sizeof(file), "%s/%.2s", store, id);
	CHECK(n > 0 && (size_t)n < sizeof(file));
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	close(fd);
	strbuf_reset(&err);
	CHECK(quarantine_store(q, "m", 1, "{}", id, &err) < 0 && err.s &&
	      strstr(err.s, "Not a directory"));
	quarantine_close(q);
	strbuf_free(&err);
}

/* RLIMIT_FSIZE makes the write fail with EFBIG (SIGXFSZ ignored): the store
 * reports it and leaves neither message.eml nor a temporary file. */
static void test_file_size_limit(void)
{
	char store[512];
	pid_t pid;
	int status = -1;

	test_path(store, sizeof(store), "efbig");
	pid = fork();
	if (pid == 0) {
		static char big[64 * 1024];
		char id[QUARANTINE_ID_LEN + 1];
		struct strbuf err = STRBUF_INIT;
		struct rlimit rl = {4096, 4096};
		struct quarantine *q = quarantine_open(store, &err);

		signal(SIGXFSZ, SIG_IGN);
		memset(big, 'x', sizeof(big));
		if (!q || setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(2);
		if (quarantine_store(q, big, sizeof(big), "{}", id, &err) == 0)
			_exit(3);
		if (!err.s || !strstr(err.s, "File too large"))
			_exit(4);
		if (test_count(q) != 0)
			_exit(5);
		quarantine_close(q);
		strbuf_free(&err);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		char cmd[600];
		int n = snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -type f)\"", store);

		CHECK(n > 0 && (size_t)n < sizeof(cmd) && system(cmd) == 0);
	}
}

static int test_verify_cb(void *ctx, const struct quarantine_entry *e)
{
	struct quarantine *q = ctx;
	struct strbuf err = STRBUF_INIT, m = STRBUF_INIT;

	/* quarantine_get checks the bytes against the id. */
	if (quarantine_get(q, e->id, &m, NULL, &err) < 0) {
		fprintf(stderr, "incomplete entry %s: %s\n", e->id, err.s ? err.s : "");
		failures++;
	}
	strbuf_free(&err);
	strbuf_free(&m);
	return 0;
}

static void test_crash_consistency(void)
{
	char store[512];
	struct strbuf err = STRBUF_INIT;
	struct quarantine *q;
	int round, entries;

	test_path(store, sizeof(store), "crash");
	srand((unsigned)time(NULL));
	for (round = 0; round < 30; round++) {
		pid_t pid = fork();

		if (pid == 0) {
			static char buf[300000];
			char id[QUARANTINE_ID_LEN + 1];
			struct strbuf e = STRBUF_INIT;
			struct quarantine *cq = quarantine_open(store, &e);
			unsigned i;

			if (!cq)
				_exit(2);
			for (i = 0;; i++) {
				size_t len = 1000 + (size_t)(i * 7919 + (unsigned)round * 104729) %
				                        (sizeof(buf) - 1000);
				int n =
				    snprintf(buf, sizeof(buf), "round %d message %u\n", round, i);

				memset(buf + n, 'a' + (int)(i % 26), len - (size_t)n);
				if (quarantine_store(cq, buf, len, "{}", id, &e) < 0)
					_exit(3);
			}
		}
		CHECK(pid > 0);
		usleep((useconds_t)(rand() % 20000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	q = quarantine_open(store, &err);
	CHECK(q != NULL);
	if (!q)
		return;
	entries = test_count(q);
	CHECK(entries > 0);
	CHECK(quarantine_list(q, test_verify_cb, q, &err) == 0);
	/* once stale, crash leftovers go; complete entries stay */
	{
		char cmd[700];
		int n =
		    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '.tmp-*')\"", store);

		CHECK(n > 0 && (size_t)n < sizeof(cmd));
		printf("crash leftovers (temporary files): ");
		fflush(stdout);
		n = snprintf(cmd, sizeof(cmd), "find '%s' -name '.tmp-*' | wc -l", store);
		CHECK(n > 0 && (size_t)n < sizeof(cmd) && system(cmd) == 0);
		n = snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '.tmp-*')\"", store);
		CHECK(n > 0 && (size_t)n < sizeof(cmd));
		CHECK(quarantine_prune(q, QUARANTINE_RETENTION_DAYS_DEFAULT,
		                       time(NULL) + QUARANTINE_STALE_INCOMPLETE_S + 10, &err) == 0);
		CHECK(test_count(q) == entries);
		CHECK(system(cmd) == 0);
	}
	quarantine_close(q);
	strbuf_free(&err);
	printf("crash consistency: %d entries after 30 kills, all complete\n", entries);
}

/* Concurrent stores share the group commit: 8 threads (a handle each, as
 * in the relay) store 40 messages each, half of them the same bytes; every
 * store succeeds and every entry reads back with the right bytes. */
#define TEST_GC_THREADS 8
#define TEST_GC_EACH 40

struct test_gc {
	char store[512];
	int n;
	int ok;
	char ids[TEST_GC_EACH][QUARANTINE_ID_LEN + 1];
};

static void *test_gc_thread(void *arg)
{
	struct test_gc *t = arg;
	struct strbuf err = STRBUF_INIT;
	struct quarantine *q = quarantine_open(t->store, &err);
	char msg[128];

	if (!q)
		return NULL;
	for (int i = 0; i < TEST_GC_EACH; i++) {
		int n =
		    i % 2 ? snprintf(msg, sizeof(msg), "Subject: shared %d\r\n\r\nx\r\n", i)
		          : snprintf(msg, sizeof(msg), "Subject: own %d %d\r\n\r\nx\r\n", t->n, i);
		if (n > 0 && (size_t)n < sizeof(msg) &&
		    quarantine_store(q, msg, (size_t)n, NULL, t->ids[i], &err) == 0)
			t->ok++;
		else
			fprintf(stderr, "store: %s\n", err.s ? err.s : "?");
	}
	quarantine_close(q);
	strbuf_free(&err);
	return NULL;
}

static void test_group_commit_concurrent(void)
{
	static struct test_gc t[TEST_GC_THREADS];
	pthread_t tid[TEST_GC_THREADS];
	struct strbuf err = STRBUF_INIT, m = STRBUF_INIT;
	struct quarantine *q;
	char store[512];

	test_path(store, sizeof(store), "gc");
	for (int i = 0; i < TEST_GC_THREADS; i++) {
		memcpy(t[i].store, store, sizeof(store));
		t[i].n = i;
		CHECK(pthread_create(&tid[i], NULL, test_gc_thread, &t[i]) == 0);
	}
	for (int i = 0; i < TEST_GC_THREADS; i++)
		pthread_join(tid[i], NULL);
	q = quarantine_open(store, &err);
	CHECK(q != NULL);
	if (!q)
		return;
	for (int i = 0; i < TEST_GC_THREADS; i++) {
		CHECK(t[i].ok == TEST_GC_EACH);
		for (int k = 0; k < t[i].ok; k++) {
			strbuf_reset(&m);
			CHECK(quarantine_get(q, t[i].ids[k], &m, NULL, &err) == 0);
		}
	}
	/* own messages per thread + the shared ones once */
	CHECK(test_count(q) == TEST_GC_THREADS * TEST_GC_EACH / 2 + TEST_GC_EACH / 2);
	quarantine_close(q);
	strbuf_free(&m);
	strbuf_free(&err);
}

int main(void)
{
	char tmpl[] = "/tmp/sk-quarantine-XXXXXX";
	char cmd[300];
	int n;

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	n = snprintf(base, sizeof(base), "%s", tmpl);
	if (n < 0 || (size_t)n >= sizeof(base))
		return 1;
	umask(022);
	test_round_trip();
	test_prune_by_age();
	test_not_a_directory();
	test_file_size_limit();
	test_crash_consistency();
	test_group_commit_concurrent();
	n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (n > 0 && (size_t)n < sizeof(cmd) && failures == 0)
		(void)system(cmd);
	if (failures) {
		fprintf(stderr, "%d failures (left %s)\n", failures, base);
		return 1;
	}
	printf("quarantine: all tests passed\n");
	return 0;
}
