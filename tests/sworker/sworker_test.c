/*
 * sworker_test - the sanitiser worker pool against real workers: this
 * program is its own worker executable (main hands "--worker" to
 * sworker_main_args), with the real libclamav and the tests' signature
 * database.
 *
 *   sworker_test SCAN_DB SAMPLES_DIR           the tests (ctest sk-sworker)
 *   sworker_test --bench SCAN_DB N             messages/s, 4 KB message:
 *                                              in-process vs one worker
 *
 * Checks: a plain message comes back sanitised and byte-identical to the
 * in-process engine's output; EICAR is withheld; a worker that aborts,
 * hangs, answers invalid JSON or an unsealed memfd gives SANITIZE_ERROR and
 * the next message is served by a replacement; socket() is refused in the
 * worker; 8 threads on a pool of 2 all get their own answers; a database
 * that does not load fails pool_start; pool_stop leaves no process (no
 * zombie) behind; as root, the worker runs as nobody with no_new_privs,
 * seccomp and a network namespace of its own.  A fake, hostile worker
 * (SWORKER_TEST_FAKE=CASE in the pool's environment: this program then
 * answers with crafted packets instead of calling sworker_main) checks
 * that every malformed answer is refused with its reason, and that valid
 * but unusual JSON is accepted.  A SIGCHLD handler stays
 * installed throughout (the pool must not depend on SIGCHLD).
 */
#include "sanitize.h"
#include "scan.h"
#include "strbuf.h"
#include "sworker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534
#define CONC_THREADS 8
#define CONC_MESSAGES 12 /* per thread */

static char test_exe[PATH_MAX];
static const char *test_db, *test_samples;
static int test_failures;
static volatile sig_atomic_t test_sigchld;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			test_failures++;                                                           \
		}                                                                                  \
	} while (0)

/* a strbuf's text, "" when it never held any */
#define S(b) ((b).s ? (b).s : "")

static void test_on_sigchld(int sig)
{
	(void)sig;
	test_sigchld++;
}

static int test_memfd(const char *s, size_t n)
{
	int fd = memfd_create("test-msg", MFD_CLOEXEC);

	if (fd < 0 || write(fd, s, n) != (ssize_t)n) {
		perror("memfd");
		exit(2);
	}
	return fd;
}

static char *test_read_sample(const char *name, size_t *len_r)
{
	char path[PATH_MAX];
	struct strbuf b = STRBUF_INIT;

	snprintf(path, sizeof(path), "%s/%s", test_samples, name);
	if (!strbuf_read_file(&b, path)) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	*len_r = b.len;
	return strbuf_detach(&b);
}

static struct sworker_pool *test_pool(unsigned n, unsigned timeout_s, const char *faults,
                                      const char *db)
{
	struct sworker_conf c = {0};
	struct strbuf err = STRBUF_INIT;
	struct sworker_pool *p;

	if (faults)
		setenv("SEKISHO_TEST_WORKER_FAULT", faults, 1);
	else
		unsetenv("SEKISHO_TEST_WORKER_FAULT");
	c.exe = test_exe;
	c.nworkers = n;
	c.timeout_s = timeout_s;
	c.scan_db = db ? db : test_db;
	c.tmpdir = "/dev/shm";
	c.uid = geteuid() == 0 ? NOBODY : getuid();
	c.gid = geteuid() == 0 ? NOBODY : getgid();
	p = sworker_pool_start(&c, &err);
	unsetenv("SEKISHO_TEST_WORKER_FAULT");
	if (!p && !db) {
		fprintf(stderr, "pool_start: %s\n", S(err));
		exit(1);
	}
	strbuf_free(&err);
	return p;
}

/* Sanitise s through the pool. */
static enum sanitize_status test_run(struct sworker_pool *p, const char *s, size_t n,
                                     const char *from, struct sworker_result *res)
{
	const char *rcpts[] = {"rcpt1@example.org", "rcpt2@example.org"};
	int fd = test_memfd(s, n);
	enum sanitize_status st;

	st = sworker_sanitize(p, fd, n, from, rcpts, 2, res);
	close(fd);
	return st;
}

static const char plain_msg[] = "From: Alice <alice@example.com>\r\n"
                                "To: Bob <bob@example.org>\r\n"
                                "Subject: plain test\r\n"
                                "Date: Sun, 22 Nov 2026 10:00:00 +0900\r\n"
                                "Message-ID: <plain.1@example.com>\r\n"
                                "MIME-Version: 1.0\r\n"
                                "Content-Type: text/plain; charset=us-ascii\r\n"
                                "\r\n"
                                "Hello from the sworker test.\r\n";

static bool test_plain_ok(struct sworker_pool *p, const char *what)
{
	struct sworker_result r;
	enum sanitize_status st =
	    test_run(p, plain_msg, sizeof(plain_msg) - 1, "s@example.com", &r);
	bool ok = st == SANITIZE_OK && strstr(S(r.message), "Hello from the sworker test.") != NULL;

	CHECK(ok, "%s: plain message after it: status %d error %s", what, (int)st, S(r.error));
	sworker_result_free(&r);
	return ok;
}

static void test_plain(struct sworker_pool *p)
{
	struct sworker_result r;
	struct sanitize_result in;
	struct sanitize_policy pol;
	struct strbuf err = STRBUF_INIT;
	struct scan_engine *eng;
	const char *rcpts[] = {"rcpt1@example.org", "rcpt2@example.org"};
	enum sanitize_status st;

	st = test_run(p, plain_msg, sizeof(plain_msg) - 1, "s@example.com", &r);
	CHECK(st == SANITIZE_OK, "status %d error %s", (int)st, S(r.error));
	CHECK(r.status == st, "res->status %d", (int)r.status);
	CHECK(strstr(S(r.message), "Content-Type: text/plain") != NULL, "no text/plain in %s",
	      S(r.message));
	CHECK(strstr(S(r.message), "Hello from the sworker test.") != NULL, "body lost: %s",
	      S(r.message));
	CHECK(r.verdict.s[0] == '{' && r.verdict.s[r.verdict.len - 1] == '}', "verdict %s",
	      S(r.verdict));
	CHECK(strstr(S(r.verdict), "\"envelope\":{\"from\":\"s@example.com\",\"rcpts\":["
	                           "\"rcpt1@example.org\",\"rcpt2@example.org\"]}") != NULL,
	      "envelope not in the verdict: %s", S(r.verdict));
	CHECK(r.error.len == 0, "error on OK: %s", S(r.error));

	/* the same bytes as the engine in this process */
	sanitize_policy_init(&pol);
	eng = scan_open(test_db, &err);
	CHECK(eng != NULL, "scan_open: %s", S(err));
	if (eng) {
		sanitize_message(&pol, eng, plain_msg, sizeof(plain_msg) - 1, "s@example.com",
		                 rcpts, 2, &in);
		CHECK(in.message.len == r.message.len &&
		          memcmp(S(in.message), S(r.message), in.message.len) == 0,
		      "worker output differs from in-process output:\n%s\n---\n%s", S(r.message),
		      S(in.message));
		sanitize_result_free(&in);
		scan_close(eng);
	}
	sanitize_policy_free(&pol);
	strbuf_free(&err);
	sworker_result_free(&r);

	/* a NULL sender and no recipients */
	{
		int fd = test_memfd(plain_msg, sizeof(plain_msg) - 1);

		st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, NULL, NULL, 0, &r);
		close(fd);
		CHECK(st == SANITIZE_OK, "null envelope: %s", S(r.error));
		CHECK(strstr(S(r.verdict), "\"envelope\":{\"from\":null,\"rcpts\":[]}") != NULL,
		      "null envelope verdict: %s", S(r.verdict));
		sworker_result_free(&r);
	}
	printf("ok - plain\n");
}

static void test_eicar(struct sworker_pool *p)
{
	struct sworker_result r;
	size_t n;
	char *m = test_read_sample("eicar.eml", &n);
	enum sanitize_status st = test_run(p, m, n, "s@example.com", &r);

	CHECK(st == SANITIZE_WITHHELD, "eicar: status %d error %s", (int)st, S(r.error));
	CHECK(strstr(S(r.verdict), "\"viruses\":[{") != NULL, "no virus in the verdict: %s",
	      S(r.verdict));
	CHECK(r.message.len > 0 && memmem(S(r.message), r.message.len, "X5O!P%@AP", 9) == NULL,
	      "eicar bytes in the output");
	sworker_result_free(&r);
	free(m);
	printf("ok - eicar_withheld\n");
}

static const char *test_fault_msg(const char *word, struct strbuf *b)
{
	strbuf_reset(b);
	strbuf_printf(b,
	              "From: a@example.com\r\nTo: b@example.org\r\nSubject: fault\r\n"
	              "X-Sekisho-Test: %s\r\n\r\nbody\r\n",
	              word);
	return b->s;
}

/* A fault that must cost exactly this message and its worker. */
static void test_fault(struct sworker_pool *p, const char *word, const char *expect)
{
	struct sworker_result r;
	struct strbuf b = STRBUF_INIT;
	pid_t before = 0, after = 0;
	enum sanitize_status st;

	sworker_pool_pids(p, &before, 1);
	test_fault_msg(word, &b);
	st = test_run(p, b.s, b.len, "s@example.com", &r);
	CHECK(st == SANITIZE_ERROR, "%s: status %d", word, (int)st);
	CHECK(r.message.len == 0 && r.verdict.len == 0, "%s: content on error", word);
	CHECK(strstr(S(r.error), expect) != NULL, "%s: error \"%s\" lacks \"%s\"", word, S(r.error),
	      expect);
	sworker_result_free(&r);
	sworker_pool_pids(p, &after, 1);
	CHECK(after != before && after > 0, "%s: worker not replaced (%d -> %d)", word, (int)before,
	      (int)after);
	CHECK(kill(before, 0) < 0 && errno == ESRCH, "%s: old worker %d still there", word,
	      (int)before);
	if (test_plain_ok(p, word))
		printf("ok - fault_%s\n", word);
	strbuf_free(&b);
}

static void test_socket_refused(void)
{
	struct sworker_pool *p = test_pool(1, 30, "socket", NULL);
	struct sworker_result r;
	enum sanitize_status st = test_run(p, plain_msg, sizeof(plain_msg) - 1, NULL, &r);

	/* allowed would be SANITIZE_ERROR "socket(AF_INET) was allowed" */
	CHECK(st == SANITIZE_OK, "socket: status %d error %s", (int)st, S(r.error));
	CHECK(strstr(S(r.verdict), ",\"test_socket\":\"refused: EPERM\",\"test_fork\":\"refused: "
	                           "EPERM\",\"test_thread\":\"ok\"}") != NULL,
	      "socket: verdict %s", S(r.verdict));
	sworker_result_free(&r);
	sworker_pool_stop(p);
	printf("ok - sandbox_probe (socket and fork refused, threads work)\n");
}

struct conc_arg {
	struct sworker_pool *p;
	int t;
	const char *eicar;
	size_t eicar_len;
	int bad;
};

static void *test_conc_thread(void *v)
{
	struct conc_arg *a = v;
	struct strbuf m = STRBUF_INIT, from = STRBUF_INIT, tok = STRBUF_INIT;
	int i;

	for (i = 0; i < CONC_MESSAGES; i++) {
		struct sworker_result r;
		enum sanitize_status st;
		bool eicar = i % 4 == 3;

		strbuf_reset(&m);
		strbuf_reset(&from);
		strbuf_reset(&tok);
		strbuf_printf(&from, "t%d.m%d@example.com", a->t, i);
		strbuf_printf(&tok, "token-%d-%d-end", a->t, i);
		if (eicar)
			strbuf_append(&m, a->eicar, a->eicar_len);
		else
			strbuf_printf(&m,
			              "From: a@example.com\r\nTo: b@example.org\r\n"
			              "Subject: %s\r\n\r\nThe body holds %s.\r\n",
			              tok.s, tok.s);
		st = test_run(a->p, m.s, m.len, from.s, &r);
		if (eicar ? st != SANITIZE_WITHHELD
		          : st != SANITIZE_OK || !strstr(S(r.message), tok.s) ||
		                strstr(S(r.message), "token-") != strstr(S(r.message), tok.s)) {
			fprintf(stderr, "conc t%d m%d: status %d error %s\n", a->t, i, (int)st,
			        S(r.error));
			a->bad++;
		}
		if (st != SANITIZE_ERROR && !strstr(S(r.verdict), from.s)) {
			fprintf(stderr, "conc t%d m%d: another envelope: %s\n", a->t, i,
			        S(r.verdict));
			a->bad++;
		}
		sworker_result_free(&r);
	}
	strbuf_free(&m);
	strbuf_free(&from);
	strbuf_free(&tok);
	return NULL;
}

static void test_concurrent(void)
{
	struct sworker_pool *p = test_pool(2, 30, NULL, NULL);
	pthread_t th[CONC_THREADS];
	struct conc_arg a[CONC_THREADS];
	size_t n;
	char *eicar = test_read_sample("eicar.eml", &n);
	int i, bad = 0;

	for (i = 0; i < CONC_THREADS; i++) {
		a[i] = (struct conc_arg){p, i, eicar, n, 0};
		pthread_create(&th[i], NULL, test_conc_thread, &a[i]);
	}
	for (i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		bad += a[i].bad;
	}
	CHECK(bad == 0, "%d wrong answers from %d concurrent messages", bad,
	      CONC_THREADS * CONC_MESSAGES);
	sworker_pool_stop(p);
	free(eicar);
	printf("ok - concurrent_8_threads_pool_2 (%d messages)\n", CONC_THREADS * CONC_MESSAGES);
}

/* Lines of /proc/PID/status, e.g. "Uid:" -> "65534\t65534\t65534\t65534". */
static bool test_status_field(pid_t pid, const char *key, char *out, size_t outsz)
{
	char path[64], line[512];
	FILE *f;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		size_t kl = strlen(key);

		if (strncmp(line, key, kl) == 0) {
			char *v = line + kl;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = 0;
			snprintf(out, outsz, "%s", v);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Every thread of the worker is filtered, not only the main one. */
static void test_threads_filtered(pid_t pid)
{
	char tdir[64], tpath[128], line[256];
	DIR *d;
	struct dirent *de;
	int threads = 0;

	snprintf(tdir, sizeof(tdir), "/proc/%d/task", (int)pid);
	d = opendir(tdir);
	CHECK(d != NULL, "opendir %s", tdir);
	while (d && (de = readdir(d)) != NULL) {
		char tv[64] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		threads++;
		snprintf(tpath, sizeof(tpath), "%s/%s/status", tdir, de->d_name);
		f = fopen(tpath, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "Seccomp:", 8) == 0)
				snprintf(tv, sizeof(tv), "%s", line + 8 + strspn(line + 8, " \t"));
		if (f)
			fclose(f);
		CHECK(strcmp(tv, "2\n") == 0, "thread %s: Seccomp %s", de->d_name, tv);
	}
	if (d)
		closedir(d);
	printf("# worker %d: %d thread(s), all filtered\n", (int)pid, threads);
}

static void test_sandbox(struct sworker_pool *p)
{
	pid_t pid = 0;
	char v[256], a[PATH_MAX], b[PATH_MAX], path[64];
	ssize_t la, lb;

	sworker_pool_pids(p, &pid, 1);
	CHECK(pid > 0, "no worker pid");
	CHECK(test_status_field(pid, "NoNewPrivs:", v, sizeof(v)) && strcmp(v, "1") == 0,
	      "NoNewPrivs %s", v);
	CHECK(test_status_field(pid, "Seccomp:", v, sizeof(v)) && strcmp(v, "2") == 0, "Seccomp %s",
	      v);
	test_threads_filtered(pid);
	if (geteuid() != 0) {
		printf("ok - sandbox_seccomp # skip uid and netns checks: not root\n");
		return;
	}
	CHECK(test_status_field(pid, "Uid:", v, sizeof(v)) &&
	          strcmp(v, "65534\t65534\t65534\t65534") == 0,
	      "Uid %s", v);
	CHECK(test_status_field(pid, "Gid:", v, sizeof(v)) &&
	          strcmp(v, "65534\t65534\t65534\t65534") == 0,
	      "Gid %s", v);
	CHECK(test_status_field(pid, "Groups:", v, sizeof(v)) && v[0] == 0, "Groups %s", v);
	CHECK(test_status_field(pid, "CapEff:", v, sizeof(v)) && strcmp(v, "0000000000000000") == 0,
	      "CapEff %s", v);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	la = readlink(path, a, sizeof(a) - 1);
	lb = readlink("/proc/self/ns/net", b, sizeof(b) - 1);
	CHECK(la > 0 && lb > 0, "readlink ns/net");
	if (la > 0 && lb > 0) {
		a[la] = b[lb] = 0;
		CHECK(strcmp(a, b) != 0, "worker shares our network namespace %s", a);
	}
	printf("ok - sandbox_root (nobody, no caps, no_new_privs, seccomp, own netns)\n");
}

static void test_bad_db(void)
{
	struct sworker_conf c = {0};
	struct strbuf err = STRBUF_INIT;
	struct sworker_pool *p;

	c.exe = test_exe;
	c.nworkers = 2;
	c.timeout_s = 5;
	c.scan_db = "/nonexistent/sekisho-db";
	c.tmpdir = "/dev/shm";
	c.uid = c.gid = geteuid() == 0 ? NOBODY : getuid();
	p = sworker_pool_start(&c, &err);
	CHECK(p == NULL, "pool started without a database");
	CHECK(strstr(S(err), "could not start") != NULL, "bad db: err %s", S(err));
	sworker_pool_stop(p);
	strbuf_free(&err);

	/* a TMPDIR only root may write: the worker, once nobody, cannot scan */
	if (geteuid() == 0) {
		char dir[] = "/dev/shm/sworker-test-XXXXXX";

		CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
		c.scan_db = test_db;
		c.nworkers = 1;
		c.tmpdir = dir;
		p = sworker_pool_start(&c, &err);
		CHECK(p == NULL && strstr(S(err), "cannot create a directory: Permission denied"),
		      "root-only TMPDIR: err %s", S(err));
		sworker_pool_stop(p);
		strbuf_free(&err);
		rmdir(dir);
		c.tmpdir = "/dev/shm";
	}

	c.scan_db = test_db;
	c.exe = "/nonexistent/sekisho-relayd";
	p = sworker_pool_start(&c, &err);
	CHECK(p == NULL && strstr(S(err), "cannot start") != NULL, "bad exe: err %s", S(err));
	strbuf_free(&err);
	printf("ok - start_failures\n");
}

static void test_stop_reaps(struct sworker_pool *p)
{
	pid_t pids[4] = {0};
	unsigned n = sworker_pool_pids(p, pids, 4), i;

	sworker_pool_stop(p);
	for (i = 0; i < n; i++) {
		char path[64];
		struct stat st;

		CHECK(pids[i] > 0, "slot %u had no process", i);
		snprintf(path, sizeof(path), "/proc/%d", (int)pids[i]);
		/* a zombie still has its /proc entry */
		CHECK(stat(path, &st) < 0 && errno == ENOENT, "worker %d left behind",
		      (int)pids[i]);
	}
	printf("ok - stop_reaps (%u workers)\n", n);
}

/* ---- a hostile worker -------------------------------------------------- */

/* The wire header of sworker.c, kept in step by hand (a change there shows
 * here as "malformed" everywhere). */
struct fake_wire {
	uint32_t magic;
	uint16_t version;
	uint16_t kind;
	uint64_t seq;
	uint64_t len;
	uint64_t verdict_len;
	uint32_t status;
	uint32_t flags;
	uint32_t nrcpts;
	uint32_t text_len;
	uint32_t signatures;
	uint32_t pad;
};
_Static_assert(sizeof(struct fake_wire) == 56, "wire header");
#define FAKE_MAGIC 0x534b5752u
#define FAKE_MSG "Subject: x\r\n\r\nfake\r\n"

struct fake_case {
	const char *name;
	const char *verdict; /* in the memfd after FAKE_MSG */
	const char *expect;  /* in res->error; NULL: the answer is accepted */
};

static const struct fake_case fake_cases[] = {
    {"valid_json",
     "{\"a\":[1,-2.5e3,0,true,false,null,{\"b\":\"\\u00e9\\\"\\\\/\"}],"
     "\"c\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"d\":{}, \"e\" : [ ]}",
     NULL},
    {"short", "{}", "sent a short answer"},
    {"bad_magic", "{}", "malformed answer header"},
    {"wrong_seq", "{}", "malformed answer header"},
    {"text_len_lies", "{}", "malformed answer header"},
    {"two_fds", "{}", "more than one descriptor"},
    {"bad_status", "{}", "unknown status 7"},
    {"error_with_fd", "{}", "error answer with content"},
    {"no_fd", "{}", "without a descriptor or with bad lengths"},
    {"huge_verdict_len", "{}", "without a descriptor or with bad lengths"},
    {"size_mismatch", "{}", "size is not the announced one"},
    {"not_memfd", "{}", "not a sealed memfd"},
    {"nul_in_message", "{}", "NUL bytes"},
    {"json_newline", "{\"a\":1}\n", "not one line of JSON"},
    {"json_array", "[1]", "not one line of JSON"},
    {"json_bad_utf8", "{\"a\":\"\xff\"}", "not one line of JSON"},
    {"json_overlong_utf8", "{\"a\":\"\xc0\xaf\"}", "not one line of JSON"},
    {"json_surrogate", "{\"a\":\"\xed\xa0\x80\"}", "not one line of JSON"},
    {"json_control", "{\"a\":\"\x01\"}", "not one line of JSON"},
    {"json_leading_zero", "{\"a\":01}", "not one line of JSON"},
    {"json_trailing_comma", "{\"a\":1,}", "not one line of JSON"},
    {"json_short_escape", "{\"a\":\"\\u12\"}", "not one line of JSON"},
    {"json_bad_word", "{\"a\":tru}", "not one line of JSON"},
    {"json_two_objects", "{}{}", "not one line of JSON"},
    {"json_unclosed", "{\"a\":[1,2", "not one line of JSON"},
    {"json_deep", NULL, "not one line of JSON"}, /* 100 nested arrays */
    {"json_deep_ok", NULL, NULL},                /* 60 */
    {"crash_after_ready", "{}", "closed its socket"},
    {"write_original", "{\"write\":\"refused\"}", NULL}, /* and the original is intact */
};

static int fake_memfd(const char *a, size_t an, const char *b, size_t bn, bool seal)
{
	int fd = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || write(fd, a, an) != (ssize_t)an || write(fd, b, bn) != (ssize_t)bn)
		_exit(9);
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		_exit(9);
	return fd;
}

static void fake_send(int sock, const void *buf, size_t n, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfds) {
		struct cmsghdr *h;

		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		_exit(9);
}

/* Answer every request the way case c says; never sanitises anything. */
static int fake_worker(int sock, const struct fake_case *c)
{
	struct fake_wire w;
	char deep[256];
	static char buf[128 * 1024];
	const char *verdict = c->verdict;

	if (!verdict) {
		/* {"a":[[...]]} nested 100 (refused) or 60 (accepted) deep */
		size_t d = strcmp(c->name, "json_deep") == 0 ? 100 : 60;

		memcpy(deep, "{\"a\":", 5);
		memset(deep + 5, '[', d);
		memset(deep + 5 + d, ']', d);
		deep[5 + 2 * d] = '}';
		deep[6 + 2 * d] = 0;
		verdict = deep;
	}
	memset(&w, 0, sizeof(w));
	w.magic = FAKE_MAGIC;
	w.version = 1;
	w.kind = 1; /* READY */
	w.flags = 1;
	fake_send(sock, &w, sizeof(w), NULL, 0);
	for (;;) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cb;
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		struct fake_wire q;
		ssize_t n;
		int fds[2], nfds = 1;
		size_t mlen = sizeof(FAKE_MSG) - 1, vlen = strlen(verdict);
		const char *msg = FAKE_MSG;
		bool seal = true;

		m.msg_control = cb.b;
		m.msg_controllen = sizeof(cb.b);
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return 0;
		if (m.msg_controllen && CMSG_FIRSTHDR(&m)) {
			int in;

			memcpy(&in, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
			if (strcmp(c->name, "write_original") == 0) {
				/* change the original: write, writable shared map, truncate */
				void *map =
				    mmap(NULL, 1, PROT_READ | PROT_WRITE, MAP_SHARED, in, 0);
				bool wrote = pwrite(in, "X", 1, 0) == 1;

				wrote |= map != MAP_FAILED;
				wrote |= ftruncate(in, 1) == 0;
				verdict =
				    wrote ? "{\"write\":\"allowed\"}" : "{\"write\":\"refused\"}";
			}
			close(in);
		}
		if (strcmp(c->name, "crash_after_ready") == 0)
			abort();
		memcpy(&q, buf, sizeof(q));
		memset(&w, 0, sizeof(w));
		w.magic = FAKE_MAGIC;
		w.version = 1;
		w.kind = 3; /* REPLY */
		w.seq = q.seq;
		w.status = 0;
		if (strcmp(c->name, "nul_in_message") == 0)
			msg = "Subject: x\r\n\r\nfa\0e\r\n";
		if (strcmp(c->name, "bad_magic") == 0)
			w.magic++;
		if (strcmp(c->name, "wrong_seq") == 0)
			w.seq++;
		if (strcmp(c->name, "text_len_lies") == 0)
			w.text_len = 3;
		if (strcmp(c->name, "bad_status") == 0)
			w.status = 7;
		w.len = mlen;
		w.verdict_len = vlen;
		if (strcmp(c->name, "huge_verdict_len") == 0)
			w.verdict_len = SWORKER_MAX_VERDICT_BYTES + 1;
		if (strcmp(c->name, "size_mismatch") == 0)
			w.verdict_len = vlen + 1;
		fds[0] = fake_memfd(msg, mlen, verdict, vlen, seal);
		if (strcmp(c->name, "not_memfd") == 0) {
			close(fds[0]);
			fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		if (strcmp(c->name, "two_fds") == 0) {
			fds[1] = dup(fds[0]);
			nfds = 2;
		}
		if (strcmp(c->name, "no_fd") == 0)
			nfds = 0;
		if (strcmp(c->name, "error_with_fd") == 0)
			w.status = 2;
		fake_send(sock, &w, strcmp(c->name, "short") == 0 ? 10 : sizeof(w), fds, nfds);
		close(fds[0]);
		if (nfds == 2)
			close(fds[1]);
	}
}

/* A worker whose answers are valid ones with random damage (seeded from
 * SWORKER_TEST_SEED and its pid): the pool must never crash, leak a
 * descriptor, or pass on anything but a checked answer. */
static int fake_random_worker(int sock)
{
	static const char good[] = "{\"status\":\"sanitized\",\"a\":[1,-2.5e3,true,null,"
	                           "{\"b\":\"\\u00e9\\\\x\"}],\"c\":\"\xe6\x97\xa5\"}";
	static const char alphabet[] = "{}[]\",:\\u0e.-+ \x80\xc3\xff\x01\n";
	static char buf[128 * 1024];
	const char *seed = getenv("SWORKER_TEST_SEED");
	unsigned rs = (unsigned)(seed ? atoi(seed) : 1) * 2654435761u ^ (unsigned)getpid();
	struct fake_wire w;

	memset(&w, 0, sizeof(w));
	w.magic = FAKE_MAGIC;
	w.version = 1;
	w.kind = 1;
	w.flags = 1;
	fake_send(sock, &w, sizeof(w), NULL, 0);
	for (;;) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cb;
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		char v[sizeof(good)], pkt[sizeof(w) + 16];
		size_t vlen = sizeof(good) - 1, plen = sizeof(w), k;
		int fd, nfds = 1;

		m.msg_control = cb.b;
		m.msg_controllen = sizeof(cb.b);
		if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) <= 0)
			return 0;
		if (m.msg_controllen && CMSG_FIRSTHDR(&m)) {
			int in;

			memcpy(&in, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
			close(in);
		}
		memcpy(v, good, sizeof(good));
		for (k = rand_r(&rs) % 4; k > 0; k--)
			v[rand_r(&rs) % vlen] = alphabet[rand_r(&rs) % (sizeof(alphabet) - 1)];
		if (rand_r(&rs) % 4 == 0)
			vlen = rand_r(&rs) % vlen;
		memcpy(&w, buf, sizeof(w));
		w.kind = 3;
		w.status = rand_r(&rs) % 8 == 0 ? 1 : 0;
		w.len = sizeof(FAKE_MSG) - 1;
		w.verdict_len = vlen;
		w.flags = w.nrcpts = w.text_len = 0;
		memcpy(pkt, &w, sizeof(w));
		memset(pkt + sizeof(w), 'E', 16);
		if (rand_r(&rs) % 8 == 0)
			pkt[rand_r(&rs) % sizeof(w)] ^= (char)(1u << rand_r(&rs) % 8);
		if (rand_r(&rs) % 16 == 0)
			plen = rand_r(&rs) % sizeof(pkt);
		fd = fake_memfd(FAKE_MSG, sizeof(FAKE_MSG) - 1, v, vlen, rand_r(&rs) % 16 != 0);
		if (rand_r(&rs) % 16 == 0)
			nfds = 0;
		fake_send(sock, pkt, plen, &fd, nfds);
		close(fd);
	}
}

static int test_count_fds(void)
{
	char path[64];
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static void test_random_worker(void)
{
	int before = test_count_fds(), i, ok = 0, err = 0, bad = 0;
	struct sworker_pool *p;

	setenv("SWORKER_TEST_FAKE", "random", 1);
	setenv("SWORKER_TEST_SEED", "4242", 1);
	p = test_pool(2, 10, NULL, NULL);
	unsetenv("SWORKER_TEST_FAKE");
	unsetenv("SWORKER_TEST_SEED");
	for (i = 0; i < 150; i++) {
		struct sworker_result r;
		enum sanitize_status st;

		st = test_run(p, plain_msg, sizeof(plain_msg) - 1, "s@example.com", &r);
		if (st == SANITIZE_ERROR) {
			err++;
			bad += r.error.len == 0 || r.message.len || r.verdict.len;
		} else {
			ok++;
			bad += (st != SANITIZE_OK && st != SANITIZE_WITHHELD) ||
			       strcmp(S(r.message), FAKE_MSG) != 0 || r.verdict.len == 0 ||
			       S(r.verdict)[0] != '{' || memchr(S(r.verdict), '\n', r.verdict.len);
		}
		sworker_result_free(&r);
	}
	sworker_pool_stop(p);
	CHECK(bad == 0, "random worker: %d answers broke the contract", bad);
	CHECK(ok > 0 && err > 0, "random worker: %d accepted, %d refused (want both)", ok, err);
	CHECK(test_count_fds() == before, "random worker: descriptors %d before, %d after", before,
	      test_count_fds());
	printf("ok - random_worker (150 damaged answers: %d accepted, %d refused)\n", ok, err);
}

/* An idle worker killed from outside (the OOM killer, an operator) is
 * noticed before the request: replaced, and the message tried again. */
static void test_idle_death(void)
{
	struct sworker_pool *p = test_pool(1, 30, NULL, NULL);
	pid_t before = 0, after = 0;
	char path[64], st[256];
	int i;

	sworker_pool_pids(p, &before, 1);
	CHECK(kill(before, SIGKILL) == 0, "kill %d: %s", (int)before, strerror(errno));
	/* wait until it is dead (a zombie: the pool has not reaped it yet) */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)before);
	for (i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		char *rp;
		bool zombie;

		if (!f)
			break;
		zombie = fgets(st, sizeof(st), f) && (rp = strrchr(st, ')')) && rp[2] == 'Z';
		fclose(f);
		if (zombie)
			break;
		usleep(1000);
	}
	if (test_plain_ok(p, "idle death")) {
		sworker_pool_pids(p, &after, 1);
		CHECK(after != before && after > 0, "idle death: same worker %d", (int)after);
		printf("ok - idle_worker_killed (replaced, message retried)\n");
	}
	sworker_pool_stop(p);
}

static void test_envelope_limits(struct sworker_pool *p)
{
	static const char *rcpts[SWORKER_MAX_RCPTS + 1];
	static char addr[SWORKER_MAX_RCPTS + 1][32];
	char longaddr[SWORKER_MAX_ADDR_BYTES + 8];
	struct sworker_result r;
	enum sanitize_status st;
	int fd = test_memfd(plain_msg, sizeof(plain_msg) - 1);
	size_t i;

	for (i = 0; i <= SWORKER_MAX_RCPTS; i++) {
		snprintf(addr[i], sizeof(addr[i]), "r%zu@example.org", i);
		rcpts[i] = addr[i];
	}
	/* exactly the limit: every recipient reaches the verdict */
	st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, "s@example.com", rcpts,
	                      SWORKER_MAX_RCPTS, &r);
	CHECK(st == SANITIZE_OK && strstr(S(r.verdict), "\"r0@example.org\"") &&
	          strstr(S(r.verdict), "\"r999@example.org\"]"),
	      "1000 recipients: status %d %s", (int)st, S(r.error));
	sworker_result_free(&r);
	st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, "s@example.com", rcpts,
	                      SWORKER_MAX_RCPTS + 1, &r);
	CHECK(st == SANITIZE_ERROR && strstr(S(r.error), "more than 1000 recipients"),
	      "1001 recipients: status %d %s", (int)st, S(r.error));
	sworker_result_free(&r);
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = 0;
	st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, longaddr, rcpts, 1, &r);
	CHECK(st == SANITIZE_ERROR && strstr(S(r.error), "envelope address over"),
	      "long sender: status %d %s", (int)st, S(r.error));
	sworker_result_free(&r);
	/* 200 addresses of 500 bytes: each allowed, together over 64 KiB */
	{
		static char big[200][500];
		static const char *bigv[200];

		for (i = 0; i < 200; i++) {
			memset(big[i], 'b', sizeof(big[i]) - 1);
			big[i][sizeof(big[i]) - 1] = 0;
			bigv[i] = big[i];
		}
		st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, NULL, bigv, 200, &r);
		CHECK(st == SANITIZE_ERROR && strstr(S(r.error), "envelope over 65536 bytes"),
		      "big envelope: status %d %s", (int)st, S(r.error));
		sworker_result_free(&r);
	}
	/* a length beyond the descriptor's size is the caller's mistake */
	st = sworker_sanitize(p, fd, sizeof(plain_msg) + 10, NULL, NULL, 0, &r);
	CHECK(st == SANITIZE_ERROR && strstr(S(r.error), "shorter than its length"),
	      "length past the end: status %d %s", (int)st, S(r.error));
	sworker_result_free(&r);
	/* an empty message is the engine's business, not an error here */
	st = sworker_sanitize(p, fd, 0, NULL, NULL, 0, &r);
	CHECK(st != SANITIZE_ERROR, "empty message: %s", S(r.error));
	sworker_result_free(&r);
	close(fd);
	printf("ok - envelope_limits\n");
}

static void test_hostile_worker(void)
{
	size_t i;

	for (i = 0; i < sizeof(fake_cases) / sizeof(fake_cases[0]); i++) {
		const struct fake_case *c = &fake_cases[i];
		struct sworker_pool *p;
		struct sworker_result r;
		enum sanitize_status st;
		pid_t before = 0, after = 0;

		setenv("SWORKER_TEST_FAKE", c->name, 1);
		p = test_pool(1, 10, NULL, NULL);
		unsetenv("SWORKER_TEST_FAKE");
		sworker_pool_pids(p, &before, 1);
		{
			const char *rc[] = {"rcpt@example.org"};
			int fd = test_memfd(plain_msg, sizeof(plain_msg) - 1);
			char back[sizeof(plain_msg)] = "";

			st = sworker_sanitize(p, fd, sizeof(plain_msg) - 1, "s@example.com", rc, 1,
			                      &r);
			CHECK(pread(fd, back, sizeof(back), 0) == sizeof(plain_msg) - 1 &&
			          memcmp(back, plain_msg, sizeof(plain_msg) - 1) == 0,
			      "hostile %s: the original changed", c->name);
			close(fd);
		}
		sworker_pool_pids(p, &after, 1);
		if (c->expect) {
			CHECK(st == SANITIZE_ERROR && strstr(S(r.error), c->expect) != NULL &&
			          r.message.len == 0 && r.verdict.len == 0,
			      "hostile %s: status %d error \"%s\", want \"%s\"", c->name, (int)st,
			      S(r.error), c->expect);
			CHECK(after != before, "hostile %s: the worker was not replaced", c->name);
		} else {
			CHECK(st == SANITIZE_OK &&
			          (c->verdict ? strcmp(S(r.verdict), c->verdict) == 0
			                      : r.verdict.len == 126) &&
			          strcmp(S(r.message), FAKE_MSG) == 0,
			      "hostile %s: status %d error %s verdict %s", c->name, (int)st,
			      S(r.error), S(r.verdict));
			CHECK(after == before, "hostile %s: a good worker was replaced", c->name);
		}
		sworker_result_free(&r);
		sworker_pool_stop(p);
	}
	printf("ok - hostile_worker (%zu cases)\n", i);
}

static void test_bad_ready(void)
{
	struct sworker_conf c = {0};
	struct strbuf err = STRBUF_INIT;
	struct sworker_pool *p;

	setenv("SWORKER_TEST_FAKE", "bad_ready", 1);
	c.exe = test_exe;
	c.nworkers = 1;
	c.timeout_s = 5;
	c.scan_db = test_db;
	c.tmpdir = "/dev/shm";
	c.uid = c.gid = geteuid() == 0 ? NOBODY : getuid();
	p = sworker_pool_start(&c, &err);
	unsetenv("SWORKER_TEST_FAKE");
	CHECK(p == NULL && strstr(S(err), "short ready message") != NULL, "bad ready: %s", S(err));
	sworker_pool_stop(p);
	strbuf_free(&err);
	printf("ok - bad_ready\n");
}

static double test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* messages/s of a 4 KB message: in-process vs through one worker */
static int test_bench(const char *db, int n)
{
	struct strbuf m = STRBUF_INIT, err = STRBUF_INIT;
	struct sanitize_policy pol;
	struct scan_engine *eng;
	struct sworker_pool *p;
	double t0, t_in, t_w;
	int i, fd;

	test_db = db;
	strbuf_puts(&m, "From: a@example.com\r\nTo: b@example.org\r\nSubject: bench\r\n"
	                "Date: Sun, 22 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\n"
	                "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	while (m.len < 4096 - 64)
		strbuf_puts(&m, "The quick brown fox jumps over the lazy dog 0123456789.\r\n");
	sanitize_policy_init(&pol);
	eng = scan_open(db, &err);
	if (!eng) {
		fprintf(stderr, "scan_open: %s\n", S(err));
		return 2;
	}
	p = test_pool(1, 30, NULL, NULL);
	fd = test_memfd(m.s, m.len);
	for (int round = 0; round < 2; round++) {
		t0 = test_now();
		for (i = 0; i < n; i++) {
			struct sanitize_result r;

			sanitize_message(&pol, eng, m.s, m.len, "a@example.com", NULL, 0, &r);
			sanitize_result_free(&r);
		}
		t_in = test_now() - t0;
		t0 = test_now();
		for (i = 0; i < n; i++) {
			struct sworker_result r;

			if (sworker_sanitize(p, fd, m.len, "a@example.com", NULL, 0, &r) !=
			    SANITIZE_OK) {
				fprintf(stderr, "bench: %s\n", S(r.error));
				return 1;
			}
			sworker_result_free(&r);
		}
		t_w = test_now() - t0;
		printf("round %d: %zu-byte message, %d runs: in-process %.0f msg/s (%.1f us), "
		       "worker %.0f msg/s (%.1f us), overhead %.1f us/message\n",
		       round, m.len, n, n / t_in, t_in / n * 1e6, n / t_w, t_w / n * 1e6,
		       (t_w - t_in) / n * 1e6);
	}
	sworker_pool_stop(p);
	/* the transport alone: a fake worker that answers without sanitising */
	setenv("SWORKER_TEST_FAKE", "valid_json", 1);
	p = test_pool(1, 30, NULL, NULL);
	unsetenv("SWORKER_TEST_FAKE");
	t0 = test_now();
	for (i = 0; i < n; i++) {
		struct sworker_result r;

		if (sworker_sanitize(p, fd, m.len, "a@example.com", NULL, 0, &r) != SANITIZE_OK) {
			fprintf(stderr, "bench: %s\n", S(r.error));
			return 1;
		}
		sworker_result_free(&r);
	}
	t_w = test_now() - t0;
	printf("transport only (fake worker, no sanitising): %.0f round trips/s (%.1f us)\n",
	       n / t_w, t_w / n * 1e6);
	close(fd);
	sworker_pool_stop(p);
	scan_close(eng);
	sanitize_policy_free(&pol);
	strbuf_free(&m);
	strbuf_free(&err);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct sworker_pool *p;
	ssize_t l;

	if (argc > 2 && strcmp(argv[1], "--worker") == 0 && getenv("SWORKER_TEST_FAKE")) {
		const char *name = getenv("SWORKER_TEST_FAKE");
		size_t i;

		/* _exit: a fake killed during LeakSanitizer's exit check would
		 * orphan its tracer */
		if (strcmp(name, "random") == 0)
			_exit(fake_random_worker(atoi(argv[2])));
		if (strcmp(name, "bad_ready") == 0)
			_exit(write(atoi(argv[2]), "short", 5) < 0 ? 9 : 0);
		for (i = 0; i < sizeof(fake_cases) / sizeof(fake_cases[0]); i++)
			if (strcmp(fake_cases[i].name, name) == 0)
				_exit(fake_worker(atoi(argv[2]), &fake_cases[i]));
		_exit(9);
	}
	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return sworker_main_args(argc, argv);
	l = readlink("/proc/self/exe", test_exe, sizeof(test_exe) - 1);
	if (l <= 0) {
		perror("readlink /proc/self/exe");
		return 2;
	}
	test_exe[l] = 0;
	if (argc == 4 && strcmp(argv[1], "--bench") == 0)
		return test_bench(argv[2], atoi(argv[3]));
	if (argc != 3) {
		fprintf(stderr, "usage: %s SCAN_DB SAMPLES_DIR | --bench SCAN_DB N\n", argv[0]);
		return 2;
	}
	test_db = argv[1];
	test_samples = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* a caller's SIGCHLD handler (without SA_RESTART) must not disturb the pool */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = test_on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);

	p = test_pool(1, 30, NULL, NULL);
	test_plain(p);
	test_eicar(p);
	test_envelope_limits(p);
	test_sandbox(p);
	test_stop_reaps(p);

	p = test_pool(1, 1, "crash,hang,garbage", NULL);
	test_fault(p, "crash", "SIGABRT");
	test_fault(p, "hang", "time limit of 1 s");
	test_fault(p, "garbage", "not one line of JSON");
	test_fault(p, "unsealed", "not a sealed memfd");
	test_stop_reaps(p);

	test_socket_refused();
	test_idle_death();
	test_concurrent();
	test_bad_db();
	test_hostile_worker();
	test_random_worker();
	test_bad_ready();
	CHECK(test_sigchld > 0, "no SIGCHLD seen (the test's handler)");
	if (test_failures) {
		fprintf(stderr, "%d check(s) failed\n", test_failures);
		return 1;
	}
	printf("all sworker tests passed\n");
	return 0;
}
