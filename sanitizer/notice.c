/*
 * notice - render the notice of a sanitised or withheld message from
 * templates (see notice.h; the format is in docs/sanitize.md).
 *
 * The built-in templates are written in the same format as the operator's
 * files and read by the same parser, so both are checked the same way.
 * Trust: template files are the operator's, read with a size limit; the
 * values substituted are untrusted and are flattened to one line with
 * control and bidi characters shown as U+FFFD.  Failure: only loading
 * fails (unreadable or malformed file); rendering cannot.
 */
#include "notice.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum notice_sec {
	NS_HEADER,
	NS_REMOVED,
	NS_PART,
	NS_CONTENT,
	NS_NONE,
	NS_SIGNATURE,
	NS_DEFECTS,
	NS_W_INFECTED,
	NS_W_ENCRYPTED,
	NS_W_LIMIT,
	NS_W_UNSCANNABLE,
	NS_W_TIME,
	NS_W_UNPARSABLE,
	NS_FOOTER,
	NS_MARKER,
	NS_EMBEDDED,
	NS_SCAN_CLEAN,
	NS_SCAN_INFECTED,
	NS_SCAN_UNSCANNABLE,
	NS_SCAN_NOT_SCANNED,
	NS_NONAME,
	NS_NONAME_ALTERNATIVE,
	NS_ALT,
	NS_COUNT
};

static const char *const notice_sec_names[NS_COUNT] = {
    "header",
    "removed",
    "part",
    "content",
    "none",
    "signature",
    "defects",
    "withheld_infected",
    "withheld_encrypted",
    "withheld_limit",
    "withheld_unscannable",
    "withheld_time",
    "withheld_unparsable",
    "footer",
    "marker",
    "embedded",
    "scan_clean",
    "scan_infected",
    "scan_unscannable",
    "scan_not_scanned",
    "noname",
    "noname_alternative",
    "alt",
};

static const char *const notice_vars[] = {
    "count", "n",     "name", "alt",  "type",  "size", "bytes", "sha256",
    "scan",  "virus", "path", "kind", "limit", "from", "date",  "subject",
};

struct notice_templates {
	char *sec[NS_COUNT];
};

static const char notice_builtin_ja[] =
    "[header]\n"
    "━━━━ sekisho 無害化通知 ━━━━\n"
    "このメールは安全のため無害化（テキスト化）されました。\n"
    "[removed]\n"
    "次の ${count} 件を削除しました:\n"
    "[part]\n"
    "${n}. ${name}${alt}\n"
    "   種類: ${type} / サイズ: ${size} バイト\n"
    "   SHA-256: ${sha256}\n"
    "   ウイルス検査: ${scan}\n"
    "[content]\n"
    "   └ ${name}（${size} バイト）\n"
    "     SHA-256: ${sha256}\n"
    "     ウイルス検査: ${scan}\n"
    "[none]\n"
    "削除した添付ファイルはありません。\n"
    "[signature]\n"
    "電子署名は削除されました（署名は検証していません）。\n"
    "[defects]\n"
    "メールの構造に不備（${count} 件）があったため、より安全な解釈で処理しました。\n"
    "[withheld_infected]\n"
    "ウイルス（${virus}）が検出されたため、このメールの本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[withheld_encrypted]\n"
    "暗号化されたメールのため、内容を確認できず本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[withheld_limit]\n"
    "メールが処理の上限（${limit}）を超えたため、本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[withheld_unscannable]\n"
    "本文のウイルス検査ができなかったため、本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[withheld_time]\n"
    "処理時間の上限を超えたため、本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[withheld_unparsable]\n"
    "メールの形式を解釈できなかったため、本文は配送されません。\n"
    "原本は隔離されています。システム管理者にお問い合わせください。\n"
    "[footer]\n"
    "━━━━━━━━━━━━━━━━━━━━━━━━\n"
    "[marker]\n"
    "[削除: ${kind} ${name}]\n"
    "[embedded]\n"
    "---------- 添付されていたメッセージ ----------\n"
    "差出人: ${from}\n"
    "日時: ${date}\n"
    "件名: ${subject}\n"
    "[scan_clean]\n"
    "問題なし\n"
    "[scan_infected]\n"
    "ウイルス検出（${virus}）\n"
    "[scan_unscannable]\n"
    "検査できませんでした\n"
    "[scan_not_scanned]\n"
    "未検査\n"
    "[noname]\n"
    "（名前なし）\n"
    "[noname_alternative]\n"
    "（本文の別の形式）\n"
    "[alt]\n"
    "（別の読み方: ${name}）\n";

static const char notice_builtin_en[] =
    "[header]\n"
    "==== sekisho: this message was sanitised ====\n"
    "For safety this message was converted to plain text.\n"
    "[removed]\n"
    "${count} item(s) were removed:\n"
    "[part]\n"
    "${n}. ${name}${alt}\n"
    "   type: ${type} / size: ${size} bytes\n"
    "   SHA-256: ${sha256}\n"
    "   virus scan: ${scan}\n"
    "[content]\n"
    "   - ${name} (${size} bytes)\n"
    "     SHA-256: ${sha256}\n"
    "     virus scan: ${scan}\n"
    "[none]\n"
    "No attachments were removed.\n"
    "[signature]\n"
    "The digital signature was removed (it was not verified).\n"
    "[defects]\n"
    "The message structure had ${count} defect(s); the safer reading was used.\n"
    "[withheld_infected]\n"
    "A virus (${virus}) was found: the content of this message is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[withheld_encrypted]\n"
    "The message is encrypted and cannot be checked: its content is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[withheld_limit]\n"
    "The message exceeds a processing limit (${limit}): its content is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[withheld_unscannable]\n"
    "The message text could not be scanned for viruses: its content is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[withheld_time]\n"
    "Processing took too long: the content of this message is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[withheld_unparsable]\n"
    "The message could not be read: its content is withheld.\n"
    "The original is in quarantine; please contact your administrator.\n"
    "[footer]\n"
    "=============================================\n"
    "[marker]\n"
    "[removed: ${kind} ${name}]\n"
    "[embedded]\n"
    "---------- attached message ----------\n"
    "From: ${from}\n"
    "Date: ${date}\n"
    "Subject: ${subject}\n"
    "[scan_clean]\n"
    "clean\n"
    "[scan_infected]\n"
    "VIRUS FOUND (${virus})\n"
    "[scan_unscannable]\n"
    "could not be scanned\n"
    "[scan_not_scanned]\n"
    "not scanned\n"
    "[noname]\n"
    "(no name)\n"
    "[noname_alternative]\n"
    "(another form of the text)\n"
    "[alt]\n"
    " (also read as: ${name})\n";

static int notice_sec_find(const char *s, size_t n)
{
	for (int i = 0; i < NS_COUNT; i++)
		if (strlen(notice_sec_names[i]) == n && memcmp(notice_sec_names[i], s, n) == 0)
			return i;
	return -1;
}

static bool notice_var_known(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(notice_vars) / sizeof(notice_vars[0]); i++)
		if (strlen(notice_vars[i]) == n && memcmp(notice_vars[i], s, n) == 0)
			return true;
	return false;
}

/* "[name]" is a section line only when name is [a-z_]+ (so a text line
 * such as "[削除: ...]" is text). */
static bool notice_sec_word(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

/* Check the ${...} references of one line; false with a message. */
static bool notice_line_check(const char *l, size_t n, const char **why_r)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i] != '$')
			continue;
		if (i + 1 < n && l[i + 1] == '$') {
			i++;
			continue;
		}
		if (i + 1 >= n || l[i + 1] != '{') {
			*why_r = "'$' must start ${name} (write $$ for a dollar sign)";
			return false;
		}
		{
			const char *e = memchr(l + i + 2, '}', n - i - 2);

			if (!e) {
				*why_r = "unterminated ${";
				return false;
			}
			if (!notice_var_known(l + i + 2, (size_t)(e - (l + i + 2)))) {
				*why_r = "unknown variable";
				return false;
			}
			i = (size_t)(e - l);
		}
	}
	return true;
}

/* Parse text into tp (sections given replace what is there). */
static bool notice_parse(struct notice_templates *tp, const char *file, const char *text,
                         size_t len, struct strbuf *err)
{
	struct strbuf cur = STRBUF_INIT;
	int sec = -1;
	size_t i = 0, lineno = 0;
	bool ok = true;
	bool seen[NS_COUNT] = {false};

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - text) : len, n;
		const char *l = text + i;
		const char *why = NULL;

		lineno++;
		n = e - i;
		if (n && l[n - 1] == '\r')
			n--;
		i = e + 1;
		if (n && l[0] == '#')
			continue;
		if (n >= 3 && l[0] == '[' && l[n - 1] == ']' && notice_sec_word(l + 1, n - 2)) {
			int s = notice_sec_find(l + 1, n - 2);

			if (s < 0) {
				strbuf_printf(err, "%s:%zu: unknown section [%.*s]\n", file, lineno,
				              (int)(n - 2 > 64 ? 64 : n - 2), l + 1);
				ok = false;
				sec = -1;
				continue;
			}
			if (seen[s]) {
				strbuf_printf(err, "%s:%zu: section [%s] given twice\n", file,
				              lineno, notice_sec_names[s]);
				ok = false;
			}
			if (sec >= 0) {
				free(tp->sec[sec]);
				tp->sec[sec] = cur.s ? strbuf_detach(&cur) : xstrdup("");
			}
			strbuf_reset(&cur);
			seen[s] = true;
			sec = s;
			continue;
		}
		if (sec < 0) {
			bool blank = true;

			for (size_t k = 0; k < n; k++)
				if (l[k] != ' ' && l[k] != '\t')
					blank = false;
			if (!blank) {
				strbuf_printf(err, "%s:%zu: text outside a [section]\n", file,
				              lineno);
				ok = false;
			}
			continue;
		}
		if (!notice_line_check(l, n, &why)) {
			strbuf_printf(err, "%s:%zu: %s\n", file, lineno, why);
			ok = false;
			continue;
		}
		strbuf_append(&cur, l, n);
		strbuf_putc(&cur, '\n');
	}
	if (sec >= 0) {
		free(tp->sec[sec]);
		tp->sec[sec] = cur.s ? strbuf_detach(&cur) : xstrdup("");
	}
	strbuf_free(&cur);
	/* a section's trailing blank lines are not part of it */
	for (int s = 0; s < NS_COUNT; s++) {
		char *t = tp->sec[s];
		size_t n;

		if (!t)
			continue;
		n = strlen(t);
		while (n >= 2 && t[n - 1] == '\n' && t[n - 2] == '\n')
			t[--n] = '\0';
		if (n == 1 && t[0] == '\n')
			t[0] = '\0';
	}
	return ok;
}

struct notice_templates *notice_templates_load(enum notice_lang lang, const char *dir,
                                               struct strbuf *err)
{
	struct notice_templates *tp = xcalloc(1, sizeof(*tp));
	const char *builtin = lang == NOTICE_LANG_EN ? notice_builtin_en : notice_builtin_ja;

	if (!notice_parse(tp, "(built-in)", builtin, strlen(builtin), err)) {
		notice_templates_free(tp);
		return NULL;
	}
	if (dir) {
		struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
		bool ok = true;

		strbuf_printf(&path, "%s/notice.%s", dir, lang == NOTICE_LANG_EN ? "en" : "ja");
		strbuf_init(&text, NOTICE_MAX_TEMPLATE_BYTES);
		if (!strbuf_read_file(&text, path.s)) {
			if (errno != ENOENT) {
				strbuf_printf(err, "%s: %s\n", path.s,
				              text.overflow ? "file too large" : strerror(errno));
				ok = false;
			}
		} else if (!notice_parse(tp, path.s, text.s ? text.s : "", text.len, err))
			ok = false;
		strbuf_free(&path);
		strbuf_free(&text);
		if (!ok) {
			notice_templates_free(tp);
			return NULL;
		}
	}
	return tp;
}

void notice_templates_free(struct notice_templates *tp)
{
	if (!tp)
		return;
	for (int i = 0; i < NS_COUNT; i++)
		free(tp->sec[i]);
	free(tp);
}

/* ---- rendering --------------------------------------------------------- */

struct notice_var {
	const char *name;
	const char *value;
};

/* Append an untrusted value on one line: controls (and the bidi controls,
 * which can disguise a file name's extension) become U+FFFD. */
static void notice_put_value(struct strbuf *out, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			strbuf_puts(out, "\xef\xbf\xbd");
			continue;
		}
		/* U+202A..U+202E, U+2066..U+2069 (E2 80 AA..AE, E2 81 A6..A9) */
		if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) {
			strbuf_puts(out, "\xef\xbf\xbd");
			p += 2;
			continue;
		}
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9) {
			strbuf_puts(out, "\xef\xbf\xbd");
			p += 2;
			continue;
		}
		strbuf_putc(out, (char)*p);
	}
}

static void notice_expand(const char *tmpl, const struct notice_var *vars, size_t nvars,
                          struct strbuf *out)
{
	const char *p = tmpl;

	if (!tmpl)
		return;
	while (*p) {
		const char *d = strchr(p, '$');

		if (!d) {
			strbuf_puts(out, p);
			return;
		}
		strbuf_append(out, p, (size_t)(d - p));
		if (d[1] == '$') {
			strbuf_putc(out, '$');
			p = d + 2;
			continue;
		}
		if (d[1] == '{') {
			const char *e = strchr(d + 2, '}');

			if (e) {
				size_t n = (size_t)(e - d - 2);

				for (size_t i = 0; i < nvars; i++)
					if (strlen(vars[i].name) == n &&
					    memcmp(vars[i].name, d + 2, n) == 0) {
						if (vars[i].value)
							notice_put_value(out, vars[i].value);
						break;
					}
				p = e + 1;
				continue;
			}
		}
		strbuf_putc(out, '$');
		p = d + 1;
	}
}

/* A one-line section expanded into a malloc'd string (no trailing LF). */
static char *notice_inline(const struct notice_templates *tp, enum notice_sec s,
                           const struct notice_var *vars, size_t nvars)
{
	struct strbuf b = STRBUF_INIT;

	notice_expand(tp->sec[s], vars, nvars, &b);
	while (b.len && (b.s[b.len - 1] == '\n'))
		b.s[--b.len] = '\0';
	return b.s ? strbuf_detach(&b) : xstrdup("");
}

static void notice_size(char *buf, size_t bufsize, size_t v)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%zu", v);
	size_t o = 0;

	for (int i = 0; i < n && o + 2 < bufsize; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

static char *notice_scan_text(const struct notice_templates *tp, const struct notice_part *p)
{
	struct notice_var v[] = {{"virus", p->virus ? p->virus : "?"}};
	enum notice_sec s = NS_SCAN_NOT_SCANNED;

	if (p->scan && strcmp(p->scan, "clean") == 0)
		s = NS_SCAN_CLEAN;
	else if (p->scan && strcmp(p->scan, "infected") == 0)
		s = NS_SCAN_INFECTED;
	else if (p->scan && strcmp(p->scan, "unscannable") == 0)
		s = NS_SCAN_UNSCANNABLE;
	return notice_inline(tp, s, v, 1);
}

void notice_render(const struct notice_templates *tp, const struct notice *n, struct strbuf *out)
{
	char count[32], size[48], bytes[32], idx[32];
	size_t top = 0;

	for (size_t i = 0; i < n->nparts; i++)
		if (!n->parts[i].content)
			top++;
	snprintf(count, sizeof(count), "%zu", top);
	{
		struct notice_var v[] = {{"count", count}};

		notice_expand(tp->sec[NS_HEADER], v, 1, out);
	}
	if (n->withheld) {
		struct notice_var v[] = {{"virus", n->detail ? n->detail : "?"},
		                         {"limit", n->detail ? n->detail : "?"}};
		enum notice_sec s = NS_W_UNPARSABLE;

		if (strcmp(n->withheld, "infected") == 0)
			s = NS_W_INFECTED;
		else if (strcmp(n->withheld, "encrypted") == 0)
			s = NS_W_ENCRYPTED;
		else if (strcmp(n->withheld, "limit") == 0)
			s = NS_W_LIMIT;
		else if (strcmp(n->withheld, "unscannable") == 0)
			s = NS_W_UNSCANNABLE;
		else if (strcmp(n->withheld, "time") == 0)
			s = NS_W_TIME;
		notice_expand(tp->sec[s], v, 2, out);
	}
	if (n->signature_removed)
		notice_expand(tp->sec[NS_SIGNATURE], NULL, 0, out);
	if (n->ndefects) {
		char dc[32];
		struct notice_var v[] = {{"count", dc}};

		snprintf(dc, sizeof(dc), "%zu", n->ndefects);
		notice_expand(tp->sec[NS_DEFECTS], v, 1, out);
	}
	if (top == 0) {
		/* a withheld message lists what it held; "nothing removed"
		 * would read as if the message had been delivered */
		if (!n->withheld)
			notice_expand(tp->sec[NS_NONE], NULL, 0, out);
	} else {
		struct notice_var v[] = {{"count", count}};
		size_t k = 0;

		notice_expand(tp->sec[NS_REMOVED], v, 1, out);
		for (size_t i = 0; i < n->nparts; i++) {
			const struct notice_part *p = &n->parts[i];
			char *scan = notice_scan_text(tp, p);
			char *noname = NULL, *alt = NULL;
			const char *name = p->name;

			if (!name || !*name)
				name = noname =
				    notice_inline(tp,
				                  p->kind && strcmp(p->kind, "alternative") == 0
				                      ? NS_NONAME_ALTERNATIVE
				                      : NS_NONAME,
				                  NULL, 0);
			if (p->name_alt && *p->name_alt) {
				struct notice_var av[] = {{"name", p->name_alt}};

				alt = notice_inline(tp, NS_ALT, av, 1);
			}
			notice_size(size, sizeof(size), p->size);
			snprintf(bytes, sizeof(bytes), "%zu", p->size);
			if (!p->content)
				k++;
			snprintf(idx, sizeof(idx), "%zu", k);
			{
				struct notice_var pv[] = {
				    {"n", idx},
				    {"name", name},
				    {"alt", alt ? alt : ""},
				    {"type", p->type ? p->type : "application/octet-stream"},
				    {"size", size},
				    {"bytes", bytes},
				    {"sha256", p->sha256 ? p->sha256 : ""},
				    {"scan", scan},
				    {"virus", p->virus ? p->virus : ""},
				    {"path", p->path ? p->path : ""},
				    {"kind", p->kind ? p->kind : ""},
				};

				notice_expand(tp->sec[p->content ? NS_CONTENT : NS_PART], pv,
				              sizeof(pv) / sizeof(pv[0]), out);
			}
			free(scan);
			free(noname);
			free(alt);
		}
	}
	notice_expand(tp->sec[NS_FOOTER], NULL, 0, out);
	strbuf_putc(out, '\n');
}

void notice_marker(const struct notice_templates *tp, const char *kind, const char *name,
                   struct strbuf *out)
{
	char *noname = NULL;
	struct notice_var v[2] = {{"kind", kind ? kind : ""}, {"name", name}};

	if (!name || !*name)
		v[1].value = noname = notice_inline(tp, NS_NONAME, NULL, 0);
	notice_expand(tp->sec[NS_MARKER], v, 2, out);
	free(noname);
}

void notice_embedded(const struct notice_templates *tp, const char *from, const char *date,
                     const char *subject, struct strbuf *out)
{
	struct notice_var v[] = {{"from", from ? from : ""},
	                         {"date", date ? date : ""},
	                         {"subject", subject ? subject : ""}};

	notice_expand(tp->sec[NS_EMBEDDED], v, 3, out);
}
