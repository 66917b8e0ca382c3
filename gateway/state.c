/*
 * state - applied versions on disk (see state.h for the layout).
 *
 * TRUST: the state directory (root-owned); file contents are size-limited
 * and parsed line by line with unknown keys ignored.
 * FAILURE: -1 with a message; writes go to a temporary directory that is
 * renamed into place, and `current` is switched by rename(2), so a crash
 * leaves either the old or the new version current, never a torn one.
 */
#include "state.h"
#include "log.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_VERSION_FMT "%06u"

char *state_path(const struct state *st, const char *name)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_printf(&sb, "%s/%s", st->dir, name);
	return strbuf_detach(&sb);
}

static char *state_version_dir(const struct state *st, unsigned num)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_printf(&sb, "%s/versions/" STATE_VERSION_FMT, st->dir, num);
	return strbuf_detach(&sb);
}

static int state_mkdirs(const char *path)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int state_open(struct state *st, const char *dir, struct strbuf *err_r)
{
	char *lock, *versions;

	char real[PATH_MAX];

	st->dir = xstrdup(dir);
	st->lock_fd = -1;
	versions = state_path(st, "versions");
	if (state_mkdirs(versions) < 0) {
		strbuf_printf(err_r, "state directory %s: %s", versions, strerror(errno));
		free(versions);
		return -1;
	}
	free(versions);
	/* absolute: the confirm waiter runs from / */
	if (realpath(dir, real)) {
		free(st->dir);
		st->dir = xstrdup(real);
	}
	lock = state_path(st, "lock");
	st->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX) < 0) {
		strbuf_printf(err_r, "locking %s: %s", lock, strerror(errno));
		free(lock);
		return -1;
	}
	free(lock);
	return 0;
}

void state_close(struct state *st)
{
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
	free(st->dir);
	st->dir = NULL;
}

/* --- writing files ----------------------------------------------------- */

static int state_write_file(const char *path, const char *data, size_t len, bool sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (sync && fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int state_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		struct strbuf sub = STRBUF_INIT;
		struct stat sst;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		strbuf_printf(&sub, "%s/%s", path, e->d_name);
		if (lstat(sub.s, &sst) == 0 && S_ISDIR(sst.st_mode))
			ret |= state_rmtree(sub.s);
		else if (unlink(sub.s) < 0)
			ret = -1;
		strbuf_free(&sub);
	}
	closedir(d);
	if (rmdir(path) < 0)
		ret = -1;
	return ret;
}

char *state_dir_prefix(const char *dir)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '.')
		return xstrdup("");
	strbuf_append(&sb, dir, n);
	if (!(n == 1 && dir[0] == '/'))
		strbuf_putc(&sb, '/');
	return strbuf_detach(&sb);
}

/* The snapshot name of a rule file: relative to the rules directory, with
 * components that would leave it ("..", absolute paths) made harmless. */
static char *state_snapshot_name(const char *path, const char *prefix)
{
	struct strbuf sb = STRBUF_INIT;
	const char *rel = path;

	if (strncmp(path, prefix, strlen(prefix)) == 0)
		rel = path + strlen(prefix);
	else
		strbuf_puts(&sb, "_outside/");
	while (*rel == '/')
		rel++;
	for (const char *c = rel; *c; c++) {
		if (c[0] == '.' && c[1] == '.' && (c == rel || c[-1] == '/') &&
		    (c[2] == '/' || c[2] == '\0')) {
			strbuf_puts(&sb, "_up");
			c++;
			continue;
		}
		strbuf_putc(&sb, *c);
	}
	return strbuf_detach(&sb);
}

/* info: what the version is, and every file's size and FNV-1a so that a
 * version torn by a crash is detected before it is used (state_verify) */
static int state_write_info(const char *path, const struct nftgen_table *t,
                            const struct state_record *rec, const struct strbuf *files)
{
	struct strbuf sb = STRBUF_INIT;
	int ret;

	strbuf_printf(&sb, "digest=%s%s\n", NFTGEN_DIGEST_PREFIX, t->digest);
	strbuf_printf(&sb, "applied=%lld\n", (long long)time(NULL));
	strbuf_printf(&sb, "source=%s\n", rec->source);
	strbuf_printf(&sb, "prefix=%s\n", rec->prefix);
	strbuf_printf(&sb, "reason=%s\n", rec->reason);
	strbuf_printf(&sb, "rules=%zu\nsets=%zu\nchains=%zu\n", t->nrules, t->sets.n, t->chains.n);
	strbuf_append(&sb, files->s ? files->s : "", files->len);
	ret = state_write_file(path, sb.s, sb.len, false);
	strbuf_free(&sb);
	return ret;
}

int state_prepare(struct state *st, const struct policy *p, const struct nftgen_table *t,
                  const struct state_record *rec, struct state_txn *txn, struct strbuf *err_r)
{
	struct state_version *v = NULL;
	size_t n = 0;
	struct strbuf path = STRBUF_INIT, files = STRBUF_INIT;

	memset(txn, 0, sizeof(*txn));
	if (state_list(st, &v, &n, err_r) < 0)
		return -1;
	txn->num = n ? v[n - 1].num + 1 : 1;
	state_versions_free(v, n);
	strbuf_printf(&path, "%s/versions/.tmp-" STATE_VERSION_FMT "-%ld", st->dir, txn->num,
	              (long)getpid());
	txn->tmpdir = strbuf_detach(&path);
	state_rmtree(txn->tmpdir);
	if (state_mkdirs(txn->tmpdir) < 0)
		goto fail;
	for (size_t i = 0; i < p->files.n; i++) {
		char *name = state_snapshot_name(p->files.v[i].path, rec->load_prefix);
		char *slash;

		strbuf_reset(&path);
		strbuf_printf(&path, "%s/rules/%s", txn->tmpdir, name);
		free(name);
		slash = strrchr(path.s, '/');
		*slash = '\0';
		if (state_mkdirs(path.s) < 0)
			goto fail;
		*slash = '/';
		if (state_write_file(path.s, p->files.v[i].text, p->files.v[i].len, false) < 0)
			goto fail;
		strbuf_printf(
		    &files, "file=%016llx %zu %s\n",
		    (unsigned long long)nftgen_fnv1a64(p->files.v[i].text, p->files.v[i].len),
		    p->files.v[i].len, path.s + strlen(txn->tmpdir) + 1);
	}
	strbuf_reset(&path);
	strbuf_printf(&path, "%s/show.nft", txn->tmpdir);
	if (state_write_file(path.s, rec->show, strlen(rec->show), false) < 0)
		goto fail;
	strbuf_printf(&files, "file=%016llx %zu show.nft\n",
	              (unsigned long long)nftgen_fnv1a64(rec->show, strlen(rec->show)),
	              strlen(rec->show));
	strbuf_reset(&path);
	strbuf_printf(&path, "%s/info", txn->tmpdir);
	if (state_write_info(path.s, t, rec, &files) < 0)
		goto fail;
	strbuf_free(&path);
	strbuf_free(&files);
	return 0;
fail:
	strbuf_printf(err_r, "writing %s: %s", path.s ? path.s : txn->tmpdir, strerror(errno));
	strbuf_free(&path);
	strbuf_free(&files);
	state_abort(st, txn);
	return -1;
}

void state_abort(struct state *st, struct state_txn *txn)
{
	if (txn->tmpdir)
		state_rmtree(txn->tmpdir);
	free(txn->tmpdir);
	txn->tmpdir = NULL;
}

static void state_prune(struct state *st)
{
	struct state_version *v = NULL;
	size_t n = 0;
	struct strbuf err = STRBUF_INIT;
	unsigned cur = state_current(st);

	if (state_list(st, &v, &n, &err) == 0 && n > STATE_KEEP_VERSIONS)
		for (size_t i = 0; i < n - STATE_KEEP_VERSIONS; i++)
			if (v[i].num != cur && state_rmtree(v[i].dir) < 0)
				log_warn("could not remove old version %s", v[i].dir);
	state_versions_free(v, n);
	strbuf_free(&err);
}

int state_commit(struct state *st, struct state_txn *txn, struct strbuf *err_r)
{
	char *dst = state_version_dir(st, txn->num);
	char *cur = state_path(st, "current"), *tmp = state_path(st, "current.tmp");
	char target[32];
	int ret = -1;

	snprintf(target, sizeof(target), "versions/" STATE_VERSION_FMT, txn->num);
	if (rename(txn->tmpdir, dst) < 0) {
		strbuf_printf(err_r, "renaming %s: %s", txn->tmpdir, strerror(errno));
		goto out;
	}
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, cur) < 0) {
		strbuf_printf(err_r, "switching %s: %s", cur, strerror(errno));
		goto out;
	}
	ret = 0;
	free(txn->tmpdir);
	txn->tmpdir = NULL;
	state_prune(st);
out:
	free(dst);
	free(cur);
	free(tmp);
	return ret;
}

/* --- reading ----------------------------------------------------------- */

unsigned state_current(struct state *st)
{
	char *cur = state_path(st, "current");
	char buf[PATH_MAX];
	ssize_t n = readlink(cur, buf, sizeof(buf) - 1);
	const char *slash;
	char *end;
	unsigned long num;

	free(cur);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	num = strtoul(slash ? slash + 1 : buf, &end, 10);
	if (*end != '\0' || num == 0 || num > 999999)
		return 0;
	return (unsigned)num;
}

static int state_cmp_version(const void *a, const void *b)
{
	const struct state_version *x = a, *y = b;
	return (x->num > y->num) - (x->num < y->num);
}

int state_list(struct state *st, struct state_version **v_r, size_t *n_r, struct strbuf *err_r)
{
	char *path = state_path(st, "versions");
	DIR *d = opendir(path);
	struct dirent *e;
	struct {
		struct state_version *v;
		size_t n, cap;
	} vec = {0};

	*v_r = NULL;
	*n_r = 0;
	if (!d) {
		if (errno == ENOENT) {
			free(path);
			return 0;
		}
		strbuf_printf(err_r, "reading %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long num = strtoul(e->d_name, &end, 10);
		struct strbuf err = STRBUF_INIT;
		struct state_version sv;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end || num == 0 || num > 999999)
			continue;
		if (state_version(st, (unsigned)num, &sv, &err) == 0)
			*VEC_PUSH(vec) = sv;
		strbuf_free(&err);
	}
	closedir(d);
	if (vec.n)
		qsort(vec.v, vec.n, sizeof(*vec.v), state_cmp_version);
	*v_r = vec.v;
	*n_r = vec.n;
	return 0;
}

void state_version_free(struct state_version *v)
{
	free(v->dir);
	free(v->digest);
	free(v->source);
	free(v->prefix);
	free(v->reason);
	memset(v, 0, sizeof(*v));
}

void state_versions_free(struct state_version *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		state_version_free(&v[i]);
	free(v);
}

int state_version(struct state *st, unsigned num, struct state_version *v_r, struct strbuf *err_r)
{
	struct strbuf sb, path = STRBUF_INIT;
	char *line, *save = NULL;

	memset(v_r, 0, sizeof(*v_r));
	v_r->num = num;
	v_r->dir = state_version_dir(st, num);
	strbuf_printf(&path, "%s/info", v_r->dir);
	strbuf_init(&sb, STATE_MAX_FILE_BYTES);
	if (!strbuf_read_file(&sb, path.s)) {
		strbuf_printf(err_r, "reading %s: %s", path.s, strerror(errno));
		strbuf_free(&path);
		strbuf_free(&sb);
		state_version_free(v_r);
		return -1;
	}
	strbuf_free(&path);
	for (line = strtok_r(sb.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		const char *val;

		if (!eq)
			continue;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(line, "digest") == 0)
			v_r->digest = xstrdup(val);
		else if (strcmp(line, "applied") == 0)
			v_r->applied = (time_t)strtoll(val, NULL, 10);
		else if (strcmp(line, "source") == 0)
			v_r->source = xstrdup(val);
		else if (strcmp(line, "prefix") == 0)
			v_r->prefix = xstrdup(val);
		else if (strcmp(line, "reason") == 0)
			v_r->reason = xstrdup(val);
		else if (strcmp(line, "rules") == 0)
			v_r->nrules = strtoul(val, NULL, 10);
		else if (strcmp(line, "sets") == 0)
			v_r->nsets = strtoul(val, NULL, 10);
		else if (strcmp(line, "chains") == 0)
			v_r->nchains = strtoul(val, NULL, 10);
	}
	strbuf_free(&sb);
	if (!v_r->digest)
		v_r->digest = xstrdup("");
	if (!v_r->source)
		v_r->source = xstrdup("?");
	if (!v_r->prefix)
		v_r->prefix = xstrdup("");
	if (!v_r->reason)
		v_r->reason = xstrdup("");
	return 0;
}

int state_show_text(struct state *st, unsigned num, struct strbuf *sb, struct strbuf *err_r)
{
	char *dir = state_version_dir(st, num);
	struct strbuf path = STRBUF_INIT;
	int ret = 0;

	strbuf_printf(&path, "%s/show.nft", dir);
	sb->max = STATE_MAX_FILE_BYTES;
	if (!strbuf_read_file(sb, path.s)) {
		strbuf_printf(err_r, "reading %s: %s", path.s, strerror(errno));
		ret = -1;
	}
	strbuf_free(&path);
	free(dir);
	return ret;
}

int state_verify(struct state *st, unsigned num, struct strbuf *err_r)
{
	char *dir = state_version_dir(st, num);
	struct strbuf info, path = STRBUF_INIT, data;
	char *line, *save = NULL;
	size_t nfiles = 0;
	int ret = 0;

	strbuf_init(&info, STATE_MAX_FILE_BYTES);
	strbuf_printf(&path, "%s/info", dir);
	if (!strbuf_read_file(&info, path.s)) {
		strbuf_printf(err_r, "version %06u: reading %s: %s", num, path.s, strerror(errno));
		ret = -1;
	}
	for (line = ret ? NULL : strtok_r(info.s, "\n", &save); line && ret == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long fnv;
		size_t size;
		int off = 0;

		if (strncmp(line, "file=", 5) != 0)
			continue;
		if (sscanf(line + 5, "%llx %zu %n", &fnv, &size, &off) != 2 || off == 0 ||
		    strstr(line + 5 + off, "..")) {
			strbuf_printf(err_r, "version %06u: bad line in info: %s", num, line);
			ret = -1;
			break;
		}
		nfiles++;
		strbuf_reset(&path);
		strbuf_printf(&path, "%s/%s", dir, line + 5 + off);
		strbuf_init(&data, STATE_MAX_FILE_BYTES);
		if (!strbuf_read_file(&data, path.s) || data.len != size ||
		    nftgen_fnv1a64(data.s ? data.s : "", data.len) != (uint64_t)fnv) {
			strbuf_printf(err_r,
			              "version %06u is damaged: %s does not match its record "
			              "(interrupted while it was written?)",
			              num, path.s);
			ret = -1;
		}
		strbuf_free(&data);
	}
	if (ret == 0 && nfiles == 0) {
		strbuf_printf(err_r, "version %06u: info lists no files", num);
		ret = -1;
	}
	strbuf_free(&info);
	strbuf_free(&path);
	free(dir);
	return ret;
}

/* --- pending confirmation ---------------------------------------------- */

int state_pending_write(struct state *st, const struct state_pending *p, struct strbuf *err_r)
{
	char *path = state_path(st, "pending"), *tmp = state_path(st, "pending.tmp");
	struct strbuf sb = STRBUF_INIT;
	int ret = 0;

	strbuf_printf(&sb, "prev=%u\napplied=%u\ndeadline=%lld\ntoken=%lu\nwaiter=%ld\n", p->prev,
	              p->applied, (long long)p->deadline, p->token, (long)p->waiter);
	if (state_write_file(tmp, sb.s, sb.len, true) < 0 || rename(tmp, path) < 0) {
		strbuf_printf(err_r, "writing %s: %s", path, strerror(errno));
		ret = -1;
	}
	strbuf_free(&sb);
	free(path);
	free(tmp);
	return ret;
}

int state_pending_read(struct state *st, struct state_pending *p_r)
{
	char *path = state_path(st, "pending");
	struct strbuf sb;
	char *line, *save = NULL;

	memset(p_r, 0, sizeof(*p_r));
	strbuf_init(&sb, 4096);
	if (!strbuf_read_file(&sb, path)) {
		int e = errno;
		free(path);
		strbuf_free(&sb);
		return e == ENOENT ? 0 : -1;
	}
	free(path);
	for (line = strtok_r(sb.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(line, "prev") == 0)
			p_r->prev = (unsigned)strtoul(eq + 1, NULL, 10);
		else if (strcmp(line, "applied") == 0)
			p_r->applied = (unsigned)strtoul(eq + 1, NULL, 10);
		else if (strcmp(line, "deadline") == 0)
			p_r->deadline = (time_t)strtoll(eq + 1, NULL, 10);
		else if (strcmp(line, "token") == 0)
			p_r->token = strtoul(eq + 1, NULL, 10);
		else if (strcmp(line, "waiter") == 0)
			p_r->waiter = (pid_t)strtol(eq + 1, NULL, 10);
	}
	strbuf_free(&sb);
	return 1;
}

int state_pending_clear(struct state *st)
{
	char *path = state_path(st, "pending");
	int ret = unlink(path) == 0 || errno == ENOENT ? 0 : -1;

	free(path);
	return ret;
}
