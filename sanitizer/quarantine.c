/*
 * quarantine - durable, content-addressed store of original messages.
 *
 * SUMMARY: quarantine_store hashes the bytes (SHA-256, OpenSSL EVP), creates
 * dir/ab/<rest>/, writes message.eml and the metadata record to temporary
 * names in the entry, makes them durable, moves them in place (rename for
 * the message, link for the record so no record is ever overwritten) and
 * makes the names durable.  "Durable" is a group commit: one syncfs(2) of
 * the store's file system serves every store of the process that finished
 * writing before it began (concurrent relay deliveries share the flushes
 * instead of paying four fsyncs each); a store returns only after two such
 * barriers (data, then names) that began after its writes.
 * Listing, reading back, pruning by age and the release log work on the
 * same layout.  All paths are resolved relative to the store's directory
 * descriptor.
 *
 * SECURITY: the message bytes are never interpreted, only hashed and
 * copied.  Ids given by callers are checked to be 64 lower-case hex digits
 * before they become paths.  The caller's metadata is trusted to be JSON.
 *
 * DIAGNOSTICS: every failure appends "quarantine: <what>: <strerror>" to the
 * caller's err buffer and returns -1 (or NULL); the relay answers 4xx.
 */
#include "json.h"
#include "quarantine.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUARANTINE_DIR_MODE 0700
#define QUARANTINE_FILE_MODE 0600
#define QUARANTINE_PATH_MAX 256 /* "ab/<62 hex>/meta-<time>-<n>.json" fits */

struct quarantine {
	int dfd;
	dev_t dev; /* the store's file system (for the group commit) */
};

/* The group commit of one file system, shared by every handle of the
 * process (the relay has one per delivery thread).  Tickets are taken after
 * a caller's writes; a round of syncfs covers every ticket taken before it
 * began.  A failed round fails every caller that was waiting while it ran
 * (conservative: they answer 4xx and the sender retries). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool used;
	dev_t dev;
	uint64_t next, done; /* last ticket taken; last ticket covered */
	bool running;
	uint64_t nfailed; /* failed rounds so far */
	int fail_errno;
} quarantine_gc = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int quarantine_fail(struct strbuf *err, int errnum, const char *what, const char *arg)
{
	strbuf_printf(err, "quarantine: %s%s%s: %s", what, arg ? " " : "", arg ? arg : "",
	              strerror(errnum));
	return -1;
}

static bool quarantine_path(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool quarantine_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

static bool quarantine_id_ok(const char *id)
{
	size_t i;

	if (!id)
		return false;
	for (i = 0; i < QUARANTINE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[QUARANTINE_ID_LEN] == '\0';
}

static bool quarantine_hash(const void *raw, size_t len, char id_r[QUARANTINE_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	if (!EVP_Digest(raw, len, md, &mdlen, EVP_sha256(), NULL) || mdlen * 2 != QUARANTINE_ID_LEN)
		return false;
	for (i = 0; i < mdlen; i++) {
		id_r[2 * i] = hex[md[i] >> 4];
		id_r[2 * i + 1] = hex[md[i] & 15];
	}
	id_r[QUARANTINE_ID_LEN] = '\0';
	return true;
}

/* fsync the directory at path (relative to the store; "." = the store). */
static int quarantine_sync_dir(struct quarantine *q, const char *path, struct strbuf *err)
{
	int fd = openat(q->dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return quarantine_fail(err, errno, "open directory", path);
	if (fsync(fd) < 0) {
		int e = errno;

		close(fd);
		return quarantine_fail(err, e, "fsync directory", path);
	}
	close(fd);
	return 0;
}

/* Make everything written to the store's file system before this call
 * durable (see quarantine_gc).  Returns 0, or -1 with the reason in err. */
static int quarantine_barrier(struct quarantine *q, struct strbuf *err)
{
	uint64_t me, failed_before;
	int e = 0;

	pthread_mutex_lock(&quarantine_gc.lock);
	if (!quarantine_gc.used) {
		quarantine_gc.used = true;
		quarantine_gc.dev = q->dev;
	}
	if (quarantine_gc.dev != q->dev) {
		/* another file system: no sharing */
		pthread_mutex_unlock(&quarantine_gc.lock);
		if (syncfs(q->dfd) < 0)
			return quarantine_fail(err, errno, "syncfs", ".");
		return 0;
	}
	me = ++quarantine_gc.next;
	failed_before = quarantine_gc.nfailed;
	while (quarantine_gc.done < me) {
		if (quarantine_gc.running) {
			pthread_cond_wait(&quarantine_gc.cond, &quarantine_gc.lock);
			continue;
		}
		uint64_t upto = quarantine_gc.next;
		quarantine_gc.running = true;
		pthread_mutex_unlock(&quarantine_gc.lock);
		int r = syncfs(q->dfd) < 0 ? errno : 0;
		pthread_mutex_lock(&quarantine_gc.lock);
		quarantine_gc.running = false;
		quarantine_gc.done = upto;
		if (r) {
			quarantine_gc.nfailed++;
			quarantine_gc.fail_errno = r;
		}
		pthread_cond_broadcast(&quarantine_gc.cond);
	}
	if (quarantine_gc.nfailed != failed_before)
		e = quarantine_gc.fail_errno;
	pthread_mutex_unlock(&quarantine_gc.lock);
	return e ? quarantine_fail(err, e, "syncfs", ".") : 0;
}

/* mkdir path (its name is made durable by the store's barrier). */
static int quarantine_mkdir(struct quarantine *q, const char *path, struct strbuf *err)
{
	if (mkdirat(q->dfd, path, QUARANTINE_DIR_MODE) < 0) {
		struct stat st;

		if (errno != EEXIST)
			return quarantine_fail(err, errno, "mkdir", path);
		if (fstatat(q->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return quarantine_fail(err, errno, "stat", path);
		if (!S_ISDIR(st.st_mode))
			return quarantine_fail(err, ENOTDIR, "mkdir", path);
		return 0;
	}
	return 0;
}

/* Write data to a fresh temporary file in dir (durable only after a
 * barrier); its name goes to tmp_r.  On failure the temporary file is
 * removed. */
static int quarantine_write_tmp(struct quarantine *q, const char *dir, const void *data, size_t len,
                                char *tmp_r, size_t tmp_size, struct strbuf *err)
{
	const unsigned char *p = data;
	int fd, e;

	/* one counter for every handle of the process: two threads storing
	 * the same message never pick the same name */
	static unsigned long quarantine_tmp_seq;
	unsigned long seq = __atomic_add_fetch(&quarantine_tmp_seq, 1, __ATOMIC_RELAXED);

	if (!quarantine_path(tmp_r, tmp_size, "%s/.tmp-%ld-%lu", dir, (long)getpid(), seq)) {
		tmp_r[0] = '\0';
		return quarantine_fail(err, ENAMETOOLONG, "temp name", dir);
	}
	fd = openat(q->dfd, tmp_r, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	            QUARANTINE_FILE_MODE);
	if (fd < 0) {
		e = errno;
		quarantine_fail(err, e, "create", tmp_r);
		tmp_r[0] = '\0';
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			goto fail;
		}
		if (n == 0) {
			e = ENOSPC;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0) {
		e = errno;
		unlinkat(q->dfd, tmp_r, 0);
		quarantine_fail(err, e, "close", tmp_r);
		tmp_r[0] = '\0';
		return -1;
	}
	return 0;
fail:
	close(fd);
	unlinkat(q->dfd, tmp_r, 0);
	quarantine_fail(err, e, "write", tmp_r);
	tmp_r[0] = '\0';
	return -1;
}

struct quarantine *quarantine_open(const char *dir, struct strbuf *err)
{
	struct quarantine *q;
	int fd;

	if (mkdir(dir, QUARANTINE_DIR_MODE) < 0 && errno != EEXIST) {
		quarantine_fail(err, errno, "mkdir", dir);
		return NULL;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		quarantine_fail(err, errno, "open", dir);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		quarantine_fail(err, errno, "stat", dir);
		close(fd);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->dfd = fd;
	q->dev = st.st_dev;
	return q;
}

void quarantine_close(struct quarantine *q)
{
	if (!q)
		return;
	close(q->dfd);
	free(q);
}

int quarantine_store(struct quarantine *q, const void *raw, size_t len, const char *meta_json,
                     char id_r[QUARANTINE_ID_LEN + 1], struct strbuf *err)
{
	char top[3], entry[QUARANTINE_PATH_MAX], path[QUARANTINE_PATH_MAX],
	    tmp[QUARANTINE_PATH_MAX] = "", rtmp[QUARANTINE_PATH_MAX] = "";
	struct strbuf rec = STRBUF_INIT;
	struct stat st;
	time_t now = time(NULL);
	bool first = true;
	unsigned n;
	int rc = -1;

	if (!quarantine_hash(raw, len, id_r))
		return quarantine_fail(err, EIO, "SHA-256", NULL);
	top[0] = id_r[0];
	top[1] = id_r[1];
	top[2] = '\0';
	if (!quarantine_path(entry, sizeof(entry), "%s/%s", top, id_r + 2))
		return quarantine_fail(err, ENAMETOOLONG, "path", id_r);
	if (quarantine_mkdir(q, top, err) < 0 || quarantine_mkdir(q, entry, err) < 0)
		return -1;

	/* The message: kept as is when already complete (same name = same bytes). */
	if (!quarantine_path(path, sizeof(path), "%s/message.eml", entry))
		return quarantine_fail(err, ENAMETOOLONG, "path", entry);
	if (fstatat(q->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size != len) {
		if (quarantine_write_tmp(q, entry, raw, len, tmp, sizeof(tmp), err) < 0)
			return -1;
	}

	/* The record. */
	strbuf_init(&rec, QUARANTINE_MAX_META_BYTES);
	strbuf_putc(&rec, '{');
	json_key(&rec, &first, "id");
	json_cstr(&rec, id_r);
	json_key(&rec, &first, "time");
	strbuf_printf(&rec, "%lld", (long long)now);
	json_key(&rec, &first, "size");
	strbuf_printf(&rec, "%zu", len);
	json_key(&rec, &first, "meta");
	strbuf_puts(&rec, meta_json && *meta_json ? meta_json : "null");
	strbuf_puts(&rec, "}\n");
	if (rec.overflow) {
		quarantine_fail(err, EFBIG, "metadata record", id_r);
		goto out;
	}
	if (quarantine_write_tmp(q, entry, rec.s, rec.len, rtmp, sizeof(rtmp), err) < 0)
		goto out;

	/* Barrier 1: the contents (and the new directories) are durable
	 * before any final name points at them. */
	if (quarantine_barrier(q, err) < 0)
		goto out;
	if (tmp[0]) {
		if (renameat(q->dfd, tmp, q->dfd, path) < 0) {
			quarantine_fail(err, errno, "rename", path);
			goto out;
		}
		tmp[0] = '\0';
	}
	/* The record is linked in place, so an existing one is never replaced. */
	for (n = 0; n < QUARANTINE_MAX_RECORDS; n++) {
		bool ok = n == 0 ? quarantine_path(path, sizeof(path), "%s/meta.json", entry)
		                 : quarantine_path(path, sizeof(path), "%s/meta-%lld-%u.json",
		                                   entry, (long long)now, n);

		if (!ok) {
			quarantine_fail(err, ENAMETOOLONG, "path", entry);
			break;
		}
		if (linkat(q->dfd, rtmp, q->dfd, path, 0) == 0) {
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			quarantine_fail(err, errno, "link", path);
			break;
		}
	}
	if (rc < 0 && n == QUARANTINE_MAX_RECORDS)
		quarantine_fail(err, EMLINK, "too many records", entry);
	/* Barrier 2: the names are durable. */
	if (rc == 0 && quarantine_barrier(q, err) < 0)
		rc = -1;
out:
	if (tmp[0])
		unlinkat(q->dfd, tmp, 0);
	if (rtmp[0])
		unlinkat(q->dfd, rtmp, 0);
	strbuf_free(&rec);
	return rc;
}

static bool quarantine_is_meta(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, "meta.json") == 0 ||
	       (strncmp(name, "meta-", 5) == 0 && n > 10 && strcmp(name + n - 5, ".json") == 0);
}

/* Collect the records of entry as a JSON array into out. */
static int quarantine_read_meta(struct quarantine *q, const char *entry, struct strbuf *out,
                                struct strbuf *err)
{
	struct strbuf one = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;
	bool first = true;

	fd = openat(q->dfd, entry, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return quarantine_fail(err, errno, "open", entry);
	}
	strbuf_putc(out, '[');
	while ((de = readdir(d))) {
		char path[QUARANTINE_PATH_MAX];
		int mfd;

		if (!quarantine_is_meta(de->d_name))
			continue;
		if (!quarantine_path(path, sizeof(path), "%s/%s", entry, de->d_name)) {
			rc = quarantine_fail(err, ENAMETOOLONG, "path", entry);
			break;
		}
		strbuf_init(&one, QUARANTINE_MAX_META_BYTES);
		mfd = openat(q->dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (mfd < 0) {
			rc = quarantine_fail(err, errno, "open", path);
			break;
		}
		for (;;) {
			char buf[8192];
			ssize_t r = read(mfd, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r < 0)
					rc = quarantine_fail(err, errno, "read", path);
				break;
			}
			if (!strbuf_append(&one, buf, (size_t)r)) {
				rc = quarantine_fail(err, EFBIG, "read", path);
				break;
			}
		}
		close(mfd);
		if (rc < 0)
			break;
		while (one.len > 0 && (one.s[one.len - 1] == '\n' || one.s[one.len - 1] == '\r'))
			one.len--;
		if (!first)
			strbuf_putc(out, ',');
		first = false;
		strbuf_append(out, one.s ? one.s : "null", one.s ? one.len : 4);
		strbuf_free(&one);
	}
	strbuf_free(&one);
	closedir(d);
	strbuf_putc(out, ']');
	if (rc == 0 && out->overflow)
		rc = quarantine_fail(err, EFBIG, "metadata of", entry);
	return rc;
}

/* st is message.eml's status, or the entry directory's when !complete. */
typedef int (*quarantine_visit_fn)(struct quarantine *q, const char *id, const char *entry,
                                   const struct stat *st, bool complete, void *ctx,
                                   struct strbuf *err);

/* Walk every entry that has a message.eml (and, with incomplete_too, those
 * left without one by a crash), calling visit. */
static int quarantine_walk(struct quarantine *q, quarantine_visit_fn visit, bool incomplete_too,
                           void *ctx, struct strbuf *err)
{
	struct dirent *de;
	DIR *top;
	int fd, rc = 0;

	fd = openat(q->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(top = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return quarantine_fail(err, errno, "open", "store");
	}
	while (rc == 0 && (de = readdir(top))) {
		struct dirent *ee;
		DIR *sub;
		int sfd;

		if (strlen(de->d_name) != 2)
			continue;
		sfd = openat(q->dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd < 0)
			continue;
		if (!(sub = fdopendir(sfd))) {
			rc = quarantine_fail(err, errno, "open", de->d_name);
			close(sfd);
			break;
		}
		while (rc == 0 && (ee = readdir(sub))) {
			char id[QUARANTINE_ID_LEN + 1], entry[QUARANTINE_PATH_MAX],
			    path[QUARANTINE_PATH_MAX];
			struct stat st;

			if (!quarantine_path(id, sizeof(id), "%s%s", de->d_name, ee->d_name) ||
			    !quarantine_id_ok(id))
				continue;
			if (!quarantine_path(entry, sizeof(entry), "%s/%s", de->d_name,
			                     ee->d_name) ||
			    !quarantine_path(path, sizeof(path), "%s/message.eml", entry))
				continue;
			if (fstatat(q->dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				rc = visit(q, id, entry, &st, true, ctx, err);
			else if (incomplete_too &&
			         fstatat(q->dfd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			         S_ISDIR(st.st_mode))
				rc = visit(q, id, entry, &st, false, ctx, err);
		}
		closedir(sub);
	}
	closedir(top);
	return rc;
}

struct quarantine_list_ctx {
	int (*fn)(void *ctx, const struct quarantine_entry *e);
	void *ctx;
};

static int quarantine_list_visit(struct quarantine *q, const char *id, const char *entry,
                                 const struct stat *st, bool complete, void *ctx,
                                 struct strbuf *err)
{
	struct quarantine_list_ctx *lc = ctx;
	struct quarantine_entry e;
	struct strbuf meta;
	int rc;

	(void)complete;
	strbuf_init(&meta, QUARANTINE_MAX_META_BYTES);
	if (quarantine_read_meta(q, entry, &meta, err) < 0) {
		strbuf_free(&meta);
		return -1;
	}
	e.id = id;
	e.size = (size_t)st->st_size;
	e.stored = st->st_mtime;
	e.meta_json = meta.s;
	rc = lc->fn(lc->ctx, &e);
	strbuf_free(&meta);
	return rc;
}

int quarantine_list(struct quarantine *q, int (*fn)(void *ctx, const struct quarantine_entry *e),
                    void *ctx, struct strbuf *err)
{
	struct quarantine_list_ctx lc = {fn, ctx};

	return quarantine_walk(q, quarantine_list_visit, false, &lc, err);
}

int quarantine_get(struct quarantine *q, const char *id, struct strbuf *msg_r,
                   struct strbuf *meta_r, struct strbuf *err)
{
	char entry[QUARANTINE_PATH_MAX], path[QUARANTINE_PATH_MAX];

	if (!quarantine_id_ok(id))
		return quarantine_fail(err, EINVAL, "malformed id", NULL);
	if (!quarantine_path(entry, sizeof(entry), "%.2s/%s", id, id + 2) ||
	    !quarantine_path(path, sizeof(path), "%s/message.eml", entry))
		return quarantine_fail(err, ENAMETOOLONG, "path", id);
	if (faccessat(q->dfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return quarantine_fail(err, errno, "no entry", id);
	if (msg_r) {
		char again[QUARANTINE_ID_LEN + 1];
		struct strbuf m;
		int fd = openat(q->dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd < 0)
			return quarantine_fail(err, errno, "open", path);
		strbuf_init(&m, QUARANTINE_MAX_MESSAGE_BYTES);
		for (;;) {
			char buf[65536];
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || (r > 0 && !strbuf_append(&m, buf, (size_t)r))) {
				int e = r < 0 ? errno : EFBIG;

				close(fd);
				strbuf_free(&m);
				return quarantine_fail(err, e, "read", path);
			}
			if (r == 0)
				break;
		}
		close(fd);
		if (!quarantine_hash(m.s ? m.s : "", m.len, again) || strcmp(again, id) != 0) {
			strbuf_free(&m);
			return quarantine_fail(err, EIO, "content does not match id", id);
		}
		strbuf_append(msg_r, m.s ? m.s : "", m.len);
		strbuf_free(&m);
		if (msg_r->overflow)
			return quarantine_fail(err, EFBIG, "message", id);
	}
	if (meta_r && quarantine_read_meta(q, entry, meta_r, err) < 0)
		return -1;
	return 0;
}

/* Remove the files of entry, the entry, and its top directory when empty. */
static int quarantine_remove(struct quarantine *q, const char *entry, struct strbuf *err)
{
	char top[3] = {entry[0], entry[1], '\0'};
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(q->dfd, entry, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return quarantine_fail(err, errno, "open", entry);
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			int e = errno;

			closedir(d);
			return quarantine_fail(err, e, "unlink in", entry);
		}
	}
	closedir(d);
	if (unlinkat(q->dfd, entry, AT_REMOVEDIR) < 0)
		return quarantine_fail(err, errno, "rmdir", entry);
	(void)unlinkat(q->dfd, top, AT_REMOVEDIR); /* fails while other entries share it */
	return quarantine_sync_dir(q, ".", err);
}

/* Remove the temporary files a crash left in a kept entry. */
static int quarantine_remove_stale_tmp(struct quarantine *q, const char *entry, time_t cutoff,
                                       struct strbuf *err)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	fd = openat(q->dfd, entry, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return quarantine_fail(err, errno, "open", entry);
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime >= cutoff)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			int e = errno;

			closedir(d);
			return quarantine_fail(err, e, "unlink in", entry);
		}
	}
	closedir(d);
	return 0;
}

struct quarantine_prune_ctx {
	time_t cutoff;       /* complete entries first stored before this go */
	time_t stale_cutoff; /* incomplete ones untouched since before this go */
	long removed;
};

static int quarantine_prune_visit(struct quarantine *q, const char *id, const char *entry,
                                  const struct stat *st, bool complete, void *ctx,
                                  struct strbuf *err)
{
	struct quarantine_prune_ctx *pc = ctx;

	(void)id;
	if (complete && st->st_mtime >= pc->cutoff)
		return quarantine_remove_stale_tmp(q, entry, pc->stale_cutoff, err);
	if (!complete && st->st_mtime >= pc->stale_cutoff)
		return 0;
	if (quarantine_remove(q, entry, err) < 0)
		return -1;
	if (complete)
		pc->removed++;
	return 0;
}

long quarantine_prune(struct quarantine *q, unsigned days, time_t now, struct strbuf *err)
{
	struct quarantine_prune_ctx pc = {now - (time_t)days * 86400,
	                                  now - QUARANTINE_STALE_INCOMPLETE_S, 0};

	if (quarantine_walk(q, quarantine_prune_visit, true, &pc, err) < 0)
		return -1;
	return pc.removed;
}

int quarantine_note_release(struct quarantine *q, const char *id, const char *who, const char *what,
                            const char *reason, struct strbuf *err)
{
	char entry[QUARANTINE_PATH_MAX], path[QUARANTINE_PATH_MAX];
	struct strbuf line;
	bool first = true, created;
	int fd, rc = -1;

	if (!quarantine_id_ok(id))
		return quarantine_fail(err, EINVAL, "malformed id", NULL);
	if (!who || !*who || !reason || !*reason)
		return quarantine_fail(err, EINVAL, "release needs who and reason", id);
	if (!quarantine_path(entry, sizeof(entry), "%.2s/%s", id, id + 2) ||
	    !quarantine_path(path, sizeof(path), "%s/message.eml", entry))
		return quarantine_fail(err, ENAMETOOLONG, "path", id);
	if (faccessat(q->dfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return quarantine_fail(err, errno, "no entry", id);
	if (!quarantine_path(path, sizeof(path), "%s/releases.jsonl", entry))
		return quarantine_fail(err, ENAMETOOLONG, "path", id);
	created = faccessat(q->dfd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	fd = openat(q->dfd, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	            QUARANTINE_FILE_MODE);
	if (fd < 0)
		return quarantine_fail(err, errno, "open", path);
	strbuf_init(&line, QUARANTINE_MAX_META_BYTES);
	strbuf_putc(&line, '{');
	json_key(&line, &first, "time");
	strbuf_printf(&line, "%lld", (long long)time(NULL));
	json_key(&line, &first, "who");
	json_cstr(&line, who);
	json_key(&line, &first, "what");
	json_cstr(&line, what);
	json_key(&line, &first, "reason");
	json_cstr(&line, reason);
	strbuf_puts(&line, "}\n");
	if (line.overflow) {
		quarantine_fail(err, EFBIG, "release record", id);
	} else {
		/* One write: O_APPEND keeps concurrent lines whole. */
		ssize_t n = write(fd, line.s, line.len);

		if (n < 0)
			quarantine_fail(err, errno, "write", path);
		else if ((size_t)n != line.len)
			quarantine_fail(err, ENOSPC, "short write", path);
		else if (fsync(fd) < 0)
			quarantine_fail(err, errno, "fsync", path);
		else
			rc = 0;
	}
	strbuf_free(&line);
	if (close(fd) < 0 && rc == 0)
		rc = quarantine_fail(err, errno, "close", path);
	if (rc == 0 && created)
		rc = quarantine_sync_dir(q, entry, err);
	return rc;
}
