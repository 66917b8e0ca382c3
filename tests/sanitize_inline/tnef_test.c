/*
 * tnef_test - unit tests of the TNEF lister on streams built here: a golden
 * stream (made by a python helper, listed identically by the tnef(1) tool),
 * and streams assembled attribute by attribute for each damage the tests
 * are named after (truncation, bad checksum, overlong lengths, lying
 * property counts, too many attachments, odd names).  With an argument DIR
 * it also reads clam.tnef and clam.exe from DIR (clamav-testfiles).
 */
#include "strbuf.h"
#include "tnef.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures;
static const char *current = "";

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,       \
			        current, #cond);                                                   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/*
 * Version, attOemCodepage 932, message class; attachment 1: attAttachTitle
 * "REPORT~1.TXT", attAttachData "hello from winmail.dat\n", attAttachment
 * with PR_ATTACH_LONG_FILENAME (PT_UNICODE) "報告書 2024.txt"; attachment 2:
 * attAttachment with PR_ATTACH_LONG_FILENAME (PT_STRING8, CP932)
 * "請求書.pdf" and PR_ATTACH_DATA_BIN "%PDF-1.4 fake\n".
 */
static const unsigned char tnef_golden[] = {
    0x78, 0x9f, 0x3e, 0x22, 0x01, 0x01, 0x01, 0x06, 0x90, 0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x07, 0x90, 0x06, 0x00, 0x08, 0x00, 0x00, 0x00, 0xa4, 0x03,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa7, 0x00, 0x01, 0x08, 0x80, 0x07, 0x00, 0x18, 0x00, 0x00,
    0x00, 0x49, 0x50, 0x4d, 0x2e, 0x4d, 0x69, 0x63, 0x72, 0x6f, 0x73, 0x6f, 0x66, 0x74, 0x20, 0x4d,
    0x61, 0x69, 0x6c, 0x2e, 0x4e, 0x6f, 0x74, 0x65, 0x00, 0x31, 0x08, 0x02, 0x02, 0x90, 0x06, 0x00,
    0x0e, 0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xfd, 0x03, 0x02, 0x10, 0x80, 0x01, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x52, 0x45, 0x50,
    0x4f, 0x52, 0x54, 0x7e, 0x31, 0x2e, 0x54, 0x58, 0x54, 0x00, 0xb9, 0x03, 0x02, 0x0f, 0x80, 0x06,
    0x00, 0x17, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x66, 0x72, 0x6f, 0x6d, 0x20,
    0x77, 0x69, 0x6e, 0x6d, 0x61, 0x69, 0x6c, 0x2e, 0x64, 0x61, 0x74, 0x0a, 0x6a, 0x08, 0x02, 0x05,
    0x90, 0x06, 0x00, 0x50, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, 0x00, 0x20, 0x0e, 0x17,
    0x00, 0x00, 0x00, 0x1f, 0x00, 0x07, 0x37, 0x01, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, 0x31,
    0x58, 0x4a, 0x54, 0xf8, 0x66, 0x20, 0x00, 0x32, 0x00, 0x30, 0x00, 0x32, 0x00, 0x34, 0x00, 0x2e,
    0x00, 0x74, 0x00, 0x78, 0x00, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 0x37, 0x01,
    0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x52, 0x45, 0x50, 0x4f, 0x52, 0x54, 0x7e, 0x31, 0x2e,
    0x54, 0x58, 0x54, 0x00, 0x00, 0x00, 0x00, 0xde, 0x09, 0x02, 0x02, 0x90, 0x06, 0x00, 0x0e, 0x00,
    0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xfd, 0x03, 0x02, 0x05, 0x90, 0x06, 0x00, 0x38, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1e,
    0x00, 0x07, 0x37, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x90, 0xbf, 0x8b, 0x81, 0x8f,
    0x91, 0x2e, 0x70, 0x64, 0x66, 0x00, 0x00, 0x02, 0x01, 0x01, 0x37, 0x01, 0x00, 0x00, 0x00, 0x0e,
    0x00, 0x00, 0x00, 0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34, 0x20, 0x66, 0x61, 0x6b, 0x65,
    0x0a, 0x00, 0x00, 0x17, 0x09,
};

#define ATT_OEM_CODEPAGE 0x00069007u
#define ATT_REND_DATA 0x00069002u
#define ATT_TITLE 0x00018010u
#define ATT_DATA 0x0006800fu
#define ATT_ATTACHMENT 0x00069005u
#define ATT_MSG_CLASS 0x00078008u

static void le16(struct strbuf *b, uint32_t v)
{
	strbuf_putc(b, (char)(v & 0xff));
	strbuf_putc(b, (char)(v >> 8 & 0xff));
}

static void le32(struct strbuf *b, uint32_t v)
{
	le16(b, v & 0xffff);
	le16(b, v >> 16);
}

static void start(struct strbuf *b)
{
	strbuf_reset(b);
	le32(b, 0x223e9f78u);
	le16(b, 0x0101);
}

static void attr(struct strbuf *b, int level, uint32_t id, const void *d, size_t n)
{
	uint32_t sum = 0;

	strbuf_putc(b, (char)level);
	le32(b, id);
	le32(b, (uint32_t)n);
	strbuf_append(b, d, n);
	for (size_t i = 0; i < n; i++)
		sum += ((const unsigned char *)d)[i];
	le16(b, sum & 0xffff);
}

static void attr_str(struct strbuf *b, uint32_t id, const char *s)
{
	attr(b, 2, id, s, strlen(s) + 1);
}

static void rend(struct strbuf *b)
{
	attr(b, 2, ATT_REND_DATA, "\x01\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00", 14);
}

static void codepage(struct strbuf *b, uint32_t cp)
{
	struct strbuf d = STRBUF_INIT;

	le32(&d, cp);
	le32(&d, 0);
	attr(b, 1, ATT_OEM_CODEPAGE, d.s, d.len);
	strbuf_free(&d);
}

/* A MAPI property list under construction. */
struct props {
	struct strbuf s;
	uint32_t count;
};

static void pad4(struct strbuf *b, size_t n)
{
	while (n++ % 4)
		strbuf_putc(b, 0);
}

static void prop_var(struct props *p, unsigned type, unsigned id, const void *v, size_t n)
{
	le16(&p->s, type);
	le16(&p->s, id);
	le32(&p->s, 1);
	le32(&p->s, (uint32_t)n);
	strbuf_append(&p->s, v, n);
	pad4(&p->s, n);
	p->count++;
}

static void prop_fixed(struct props *p, unsigned type, unsigned id, size_t bytes)
{
	le16(&p->s, type);
	le16(&p->s, id);
	for (size_t i = 0; i < bytes; i++)
		strbuf_putc(&p->s, (char)i);
	p->count++;
}

/* UTF-8 source text as UTF-16LE with the terminating NUL. */
static void utf16(const char *s, struct strbuf *out)
{
	const unsigned char *u = (const unsigned char *)s;

	strbuf_reset(out);
	while (*u) {
		uint32_t c;
		if (*u < 0x80)
			c = *u++;
		else if (*u < 0xe0)
			c = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f), u += 2;
		else if (*u < 0xf0)
			c = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 |
			    (u[2] & 0x3f),
			u += 3;
		else
			c = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
			    (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f),
			u += 4;
		if (c >= 0x10000) {
			le16(out, 0xd800 + ((c - 0x10000) >> 10));
			le16(out, 0xdc00 + ((c - 0x10000) & 0x3ff));
		} else {
			le16(out, c);
		}
	}
	le16(out, 0);
}

static void props_attr(struct strbuf *b, struct props *p)
{
	struct strbuf d = STRBUF_INIT;

	le32(&d, p->count);
	strbuf_append(&d, p->s.s, p->s.len);
	attr(b, 2, ATT_ATTACHMENT, d.s, d.len);
	strbuf_free(&d);
	strbuf_free(&p->s);
	p->count = 0;
}

static bool name_is(const struct tnef_file *f, const char *name)
{
	if (!name || !f->name)
		return name == f->name;
	if (strcmp(f->name, name))
		fprintf(stderr, "  name: %s, expected %s\n", f->name, name);
	return !strcmp(f->name, name);
}

static bool data_is(const struct tnef_file *f, const void *p, size_t n)
{
	return f->size == n && (n == 0 || (f->data && !memcmp(f->data, p, n)));
}

/* tnef_list plus the invariants: data inside the buffer, names valid. */
static size_t list(const struct strbuf *b, struct tnef_file **f_r, bool *ok_r)
{
	size_t n = tnef_list(b->s, b->len, f_r, ok_r);
	const unsigned char *lo = (const unsigned char *)b->s;

	CHECK((n == 0) == (*f_r == NULL));
	CHECK(n <= 1000);
	for (size_t i = 0; i < n; i++) {
		const struct tnef_file *f = &(*f_r)[i];
		if (f->size)
			CHECK(f->data >= lo && f->size <= b->len &&
			      (size_t)(f->data - lo) <= b->len - f->size);
		if (f->name) {
			CHECK(f->name[0] != '\0');
			for (const char *s = f->name; *s; s++)
				CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
		}
	}
	return n;
}

static void test_golden(void)
{
	struct strbuf b = STRBUF_INIT;
	struct tnef_file *f;
	size_t n, cut_title = 0;
	bool ok;

	current = "golden";
	strbuf_append(&b, tnef_golden, sizeof(tnef_golden));
	n = list(&b, &f, &ok);
	CHECK(ok && n == 2);
	if (n == 2) {
		CHECK(name_is(&f[0], "報告書 2024.txt"));
		CHECK(data_is(&f[0], "hello from winmail.dat\n", 23));
		CHECK(name_is(&f[1], "請求書.pdf"));
		CHECK(data_is(&f[1], "%PDF-1.4 fake\n", 14));
	}
	tnef_free(f, n);

	/* Every prefix: no crash, never more than the whole, and cut inside
	 * attAttachData the first attachment is listed by its title. */
	current = "golden_truncated_everywhere";
	for (size_t cut = 0; cut < sizeof(tnef_golden); cut++) {
		strbuf_reset(&b);
		strbuf_append(&b, tnef_golden, cut);
		n = list(&b, &f, &ok);
		CHECK(n <= 2);
		if (cut < 6)
			CHECK(n == 0 && !ok);
		if (n >= 1 && f[0].name && !strcmp(f[0].name, "REPORT~1.TXT") && f[0].size == 0)
			cut_title++;
		tnef_free(f, n);
	}
	CHECK(cut_title > 20);

	current = "golden_bad_checksum";
	strbuf_reset(&b);
	strbuf_append(&b, tnef_golden, sizeof(tnef_golden));
	{
		char *h = memmem(b.s, b.len, "hello from", 10);
		CHECK(h != NULL);
		if (h)
			h[0] = 'j';
	}
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 2);
	if (n == 2)
		CHECK(data_is(&f[0], "jello from winmail.dat\n", 23));
	tnef_free(f, n);

	current = "not_tnef";
	b.s[0] ^= 1;
	n = list(&b, &f, &ok);
	CHECK(n == 0 && !ok && f == NULL);
	n = tnef_list(NULL, 0, &f, &ok);
	CHECK(n == 0 && !ok && f == NULL);
	strbuf_free(&b);
}

static void test_damaged_framing(void)
{
	struct strbuf b = STRBUF_INIT;
	struct tnef_file *f;
	size_t n;
	bool ok;

	current = "empty_stream";
	start(&b);
	n = list(&b, &f, &ok);
	CHECK(n == 0 && ok);

	current = "attribute_length_overlong";
	start(&b);
	rend(&b);
	attr_str(&b, ATT_TITLE, "a.txt");
	strbuf_putc(&b, 2);
	le32(&b, ATT_DATA);
	le32(&b, 0xffffffffu);
	strbuf_puts(&b, "some bytes");
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], "a.txt") && f[0].size == 0);
	tnef_free(f, n);

	current = "attribute_length_one_short_of_checksum";
	start(&b);
	rend(&b);
	strbuf_putc(&b, 2);
	le32(&b, ATT_DATA);
	le32(&b, 4);
	strbuf_puts(&b, "abcdX");
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && f[0].size == 0);
	tnef_free(f, n);

	current = "unknown_level";
	start(&b);
	rend(&b);
	attr(&b, 3, ATT_TITLE, "x.txt", 6);
	attr_str(&b, ATT_TITLE, "late.txt");
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], NULL));
	tnef_free(f, n);

	current = "trailing_bytes";
	start(&b);
	rend(&b);
	strbuf_puts(&b, "xy");
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1);
	tnef_free(f, n);

	current = "title_without_rend_data";
	start(&b);
	attr(&b, 1, ATT_MSG_CLASS, "IPM.Note", 9);
	attr_str(&b, ATT_TITLE, "first.txt");
	attr(&b, 2, ATT_DATA, "12345", 5);
	rend(&b);
	attr_str(&b, ATT_TITLE, "second.txt");
	n = list(&b, &f, &ok);
	CHECK(ok && n == 2 && name_is(&f[0], "first.txt") && data_is(&f[0], "12345", 5) &&
	      name_is(&f[1], "second.txt") && f[1].size == 0);
	tnef_free(f, n);

	current = "too_many_attachments";
	start(&b);
	for (int i = 0; i < 1005; i++)
		rend(&b);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1000);
	tnef_free(f, n);
	strbuf_free(&b);
}

static void test_props(void)
{
	struct strbuf b = STRBUF_INIT, u = STRBUF_INIT;
	struct props p = {STRBUF_INIT, 0};
	struct tnef_file *f;
	size_t n;
	bool ok;
	static const unsigned fixed[][2] = {{0x0002, 4}, {0x0003, 4}, {0x0004, 4}, {0x0005, 8},
	                                    {0x0006, 8}, {0x0007, 8}, {0x000a, 4}, {0x000b, 4},
	                                    {0x0014, 8}, {0x0040, 8}, {0x0048, 16}};

	current = "every_fixed_type_named_and_multivalued_props";
	start(&b);
	rend(&b);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		prop_fixed(&p, fixed[i][0], 0x0e00 + (unsigned)i, fixed[i][1]);
	/* named property by id, then by name (odd length: padded) */
	le16(&p.s, 0x0003);
	le16(&p.s, 0x8001);
	strbuf_append(&p.s, "0123456789abcdef", 16);
	le32(&p.s, 0);
	le32(&p.s, 0x8233);
	le32(&p.s, 7);
	p.count++;
	le16(&p.s, 0x001f);
	le16(&p.s, 0x8002);
	strbuf_append(&p.s, "0123456789abcdef", 16);
	le32(&p.s, 1);
	le32(&p.s, 6);
	strbuf_append(&p.s, "n\0m\0e\0", 6);
	pad4(&p.s, 6);
	le32(&p.s, 1);
	le32(&p.s, 4);
	strbuf_append(&p.s, "x\0\0\0", 4);
	p.count++;
	/* multivalued long (3 values) and multivalued string (2 values) */
	le16(&p.s, 0x1003);
	le16(&p.s, 0x0e50);
	le32(&p.s, 3);
	le32(&p.s, 1);
	le32(&p.s, 2);
	le32(&p.s, 3);
	p.count++;
	le16(&p.s, 0x101e);
	le16(&p.s, 0x3707);
	le32(&p.s, 2);
	le32(&p.s, 3);
	strbuf_append(&p.s, "mv\0\0", 4);
	le32(&p.s, 5);
	strbuf_append(&p.s, "mv2x\0\0\0\0", 8);
	p.count++;
	prop_var(&p, 0x001e, 0x3001, "Display name", 13);
	utf16("long name.xlsx", &u);
	prop_var(&p, 0x001f, 0x3707, u.s, u.len);
	prop_var(&p, 0x0102, 0x3701, "BINDATA", 7);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "long name.xlsx") && data_is(&f[0], "BINDATA", 7));
	tnef_free(f, n);

	current = "attach_data_wins_over_data_bin";
	attr(&b, 2, ATT_DATA, "real", 4);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && data_is(&f[0], "real", 4));
	tnef_free(f, n);

	current = "embedded_object_data_after_iid";
	start(&b);
	rend(&b);
	prop_var(&p, 0x000d, 0x3701, "IIDIIDIIDIIDIIDIx\x9f>\"nested", 26);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && data_is(&f[0], "x\x9f>\"nested", 10));
	tnef_free(f, n);

	current = "display_name_only";
	start(&b);
	rend(&b);
	prop_var(&p, 0x001e, 0x3001, "shown.txt", 10);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "shown.txt"));
	tnef_free(f, n);

	current = "property_count_lies";
	start(&b);
	rend(&b);
	prop_var(&p, 0x001e, 0x3707, "kept.txt", 9);
	p.count = 0xffffffffu;
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], "kept.txt"));
	tnef_free(f, n);

	current = "value_count_lies";
	start(&b);
	rend(&b);
	le16(&p.s, 0x1003);
	le16(&p.s, 0x0e50);
	le32(&p.s, 0x40000000u);
	le32(&p.s, 1);
	p.count++;
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1);
	tnef_free(f, n);

	current = "value_length_overlong";
	start(&b);
	rend(&b);
	le16(&p.s, 0x001e);
	le16(&p.s, 0x3707);
	le32(&p.s, 1);
	le32(&p.s, 0xfffffff0u);
	strbuf_puts(&p.s, "abc");
	p.count++;
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], NULL));
	tnef_free(f, n);

	current = "named_property_name_overlong";
	start(&b);
	rend(&b);
	le16(&p.s, 0x0003);
	le16(&p.s, 0x8001);
	strbuf_append(&p.s, "0123456789abcdef", 16);
	le32(&p.s, 1);
	le32(&p.s, 0xfffffffeu);
	le32(&p.s, 0);
	p.count++;
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1);
	tnef_free(f, n);

	current = "unknown_property_type";
	start(&b);
	rend(&b);
	prop_var(&p, 0x001e, 0x3707, "before.txt", 11);
	prop_fixed(&p, 0x0099, 0x0e00, 4);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], "before.txt"));
	tnef_free(f, n);

	current = "too_many_properties";
	start(&b);
	for (int a = 0; a < 3; a++) {
		rend(&b);
		for (int i = 0; i < 4000; i++)
			prop_fixed(&p, 0x0003, 0x0e20, 4);
		props_attr(&b, &p);
	}
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 3);
	tnef_free(f, n);

	current = "last_value_without_padding";
	start(&b);
	rend(&b);
	le32(&u, 0);
	strbuf_reset(&u);
	le32(&u, 1);
	le16(&u, 0x001e);
	le16(&u, 0x3707);
	le32(&u, 1);
	le32(&u, 6);
	strbuf_append(&u, "a.txt", 6);
	attr(&b, 2, ATT_ATTACHMENT, u.s, u.len);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "a.txt"));
	tnef_free(f, n);
	strbuf_free(&b);
	strbuf_free(&u);
}

static void test_names(void)
{
	struct strbuf b = STRBUF_INIT, u = STRBUF_INIT;
	struct props p = {STRBUF_INIT, 0};
	struct tnef_file *f;
	size_t n;
	bool ok;

	current = "utf16_astral_lone_surrogate_control";
	start(&b);
	rend(&b);
	/* "a", U+1F600, lone high surrogate, "b", ESC, lone low surrogate */
	strbuf_append(&u,
	              "a\0\x3d\xd8\x00\xde\x3d\xd8"
	              "b\0\x1b\0\x00\xdc\0\0",
	              16);
	prop_var(&p, 0x001f, 0x3707, u.s, u.len);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 &&
	      name_is(&f[0], "a\xf0\x9f\x98\x80\xef\xbf\xbd"
	                     "b\xef\xbf\xbd\xef\xbf\xbd"));
	tnef_free(f, n);

	current = "utf16_odd_length";
	start(&b);
	rend(&b);
	prop_var(&p, 0x001f, 0x3707, "o\0k\0!", 5);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "ok"));
	tnef_free(f, n);

	current = "eight_bit_without_codepage";
	start(&b);
	rend(&b);
	attr_str(&b, ATT_TITLE, "caf\xc3\xa9.txt");
	rend(&b);
	attr_str(&b, ATT_TITLE, "caf\xe9\x01.txt");
	n = list(&b, &f, &ok);
	CHECK(ok && n == 2 && name_is(&f[0], "café.txt") &&
	      name_is(&f[1], "caf\xef\xbf\xbd\xef\xbf\xbd.txt"));
	tnef_free(f, n);

	current = "eight_bit_cp1252";
	start(&b);
	codepage(&b, 1252);
	rend(&b);
	attr_str(&b, ATT_TITLE, "caf\xe9 \x80.txt");
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "café €.txt"));
	tnef_free(f, n);

	current = "eight_bit_cp932_invalid_byte";
	start(&b);
	codepage(&b, 932);
	rend(&b);
	attr_str(&b, ATT_TITLE, "\x95\xf1\x8d\x90\xff.txt");
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "報告\xef\xbf\xbd.txt"));
	tnef_free(f, n);

	current = "unknown_codepage";
	start(&b);
	codepage(&b, 4242);
	rend(&b);
	attr_str(&b, ATT_TITLE, "x\xff.txt");
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "x\xef\xbf\xbd.txt"));
	tnef_free(f, n);

	current = "empty_names_are_null";
	start(&b);
	rend(&b);
	attr(&b, 2, ATT_TITLE, "\0\0", 2);
	prop_var(&p, 0x001f, 0x3707, "\0\0", 2);
	props_attr(&b, &p);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], NULL));
	tnef_free(f, n);

	current = "title_not_nul_terminated";
	start(&b);
	rend(&b);
	attr(&b, 2, ATT_TITLE, "abc", 3);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && name_is(&f[0], "abc"));
	tnef_free(f, n);

	current = "name_too_long";
	start(&b);
	rend(&b);
	strbuf_reset(&u);
	for (int i = 0; i < 10000; i++)
		strbuf_putc(&u, 'n');
	attr(&b, 2, ATT_TITLE, u.s, u.len);
	n = list(&b, &f, &ok);
	CHECK(ok && n == 1 && f[0].name && strlen(f[0].name) == 2048);
	tnef_free(f, n);
	strbuf_free(&b);
	strbuf_free(&u);
}

static void test_clamav(const char *dir)
{
	struct strbuf b = STRBUF_INIT, exe = STRBUF_INIT;
	struct tnef_file *f;
	char path[4096];
	size_t n;
	bool ok;
	int w;

	current = "clamav_clam_tnef";
	w = snprintf(path, sizeof(path), "%s/clam.exe", dir);
	if (w < 0 || (size_t)w >= sizeof(path) || !strbuf_read_file(&exe, path)) {
		printf("clamav-testfiles not in %s: skipped\n", dir);
		return;
	}
	w = snprintf(path, sizeof(path), "%s/clam.tnef", dir);
	CHECK(w > 0 && (size_t)w < sizeof(path) && strbuf_read_file(&b, path));
	/* The sample's message attributes carry wrong checksums. */
	n = list(&b, &f, &ok);
	CHECK(!ok && n == 1 && name_is(&f[0], "clam.exe") && data_is(&f[0], exe.s, exe.len));
	tnef_free(f, n);
	strbuf_free(&b);
	strbuf_free(&exe);
}

int main(int argc, char **argv)
{
	test_golden();
	test_damaged_framing();
	test_props();
	test_names();
	if (argc > 1)
		test_clamav(argv[1]);
	if (failures) {
		fprintf(stderr, "tnef_test: %d checks failed\n", failures);
		return 1;
	}
	printf("tnef_test: all checks passed\n");
	return 0;
}
