/*
 * inline_bin_test - unit tests of the inline binary finder: blocks made by
 * real encoders (sharutils uuencode, python3-yenc, macutils binhex) embedded
 * below, and the hostile or damaged variants each test is named after.
 * Every call also checks the invariants: blocks sorted, not overlapping,
 * made of whole lines, decoded size within the contract.
 *
 * Usage: inline_bin_test [DIR]   DIR (clamav-testfiles) adds clam.exe.mbox.uu
 *                                and clam.exe.binhex when they are there
 *        inline_bin_test bench   prints inline_bin_find's throughput on 10 MB
 *                                of plain text
 */
#include "inline_bin.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Made by python3-yenc (yenc.Encoder) from yenc_python_data; CRC-32 9a87e690. */
static const unsigned char yenc_python_enc[] = {
    0x2a, 0x34, 0x37, 0x3d, 0x7d, 0x3d, 0x40, 0x3d, 0x4a, 0x3d, 0x4d, 0x3d, 0x7d, 0x2e, 0x09,
    0x20, 0xa3, 0x6f, 0x98, 0x8d, 0x4a, 0x9e, 0x8f, 0x9d, 0x9e, 0x4a, 0x9a, 0x8b, 0xa3, 0x96,
    0x99, 0x8b, 0x8e, 0x4a, 0x29, 0x28, 0x2a, 0x2f, 0x34, 0x39, 0x3e, 0x43, 0x48, 0x4d, 0x52,
    0x57, 0x5c, 0x61, 0x66, 0x6b, 0x70, 0x75, 0x7a, 0x7f, 0x84, 0x89, 0x8e, 0x93, 0x98, 0x9d,
    0xa2, 0xa7, 0xac, 0xb1, 0xb6, 0xbb, 0xc0, 0xc5, 0xca, 0xcf, 0xd4, 0xd9, 0xde, 0xe3, 0xe8,
    0xed, 0xf2, 0xf7, 0xfc, 0x01, 0x06, 0x0b, 0x10, 0x15, 0x1a, 0x1f, 0x24, 0x29,
};
static const unsigned char yenc_python_data[] = {
    0x00, 0x0a, 0x0d, 0x13, 0xd6, 0xe0, 0xe3, 0x13, 0x04, 0xdf, 0xf6, 0x79, 0x45, 0x6e,
    0x63, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64,
    0x20, 0xff, 0xfe, 0x00, 0x05, 0x0a, 0x0f, 0x14, 0x19, 0x1e, 0x23, 0x28, 0x2d, 0x32,
    0x37, 0x3c, 0x41, 0x46, 0x4b, 0x50, 0x55, 0x5a, 0x5f, 0x64, 0x69, 0x6e, 0x73, 0x78,
    0x7d, 0x82, 0x87, 0x8c, 0x91, 0x96, 0x9b, 0xa0, 0xa5, 0xaa, 0xaf, 0xb4, 0xb9, 0xbe,
    0xc3, 0xc8, 0xcd, 0xd2, 0xd7, 0xdc, 0xe1, 0xe6, 0xeb, 0xf0, 0xf5, 0xfa, 0xff,
};

/* sharutils: uuencode seq.bin data.bin, seq.bin = bytes 0..99 */
static const char uu_sharutils[] =
    "begin 644 data.bin\n"
    "M``$\"`P0%!@<(\"0H+#`T.#Q`1$A,4%187&!D:&QP='A\\@(2(C)\"4F)R@I*BLL\n"
    "M+2XO,#$R,S0U-C<X.3H[/#T^/T!!0D-$149'2$E*2TQ-3D]045)35%565UA9\n"
    "*6EM<75Y?8&%B8P``\n"
    "`\n"
    "end\n";

/* sharutils: uuencode -m seq.bin data.bin */
static const char uu_sharutils_b64[] =
    "begin-base64 644 data.bin\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss\n"
    "LS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZ\n"
    "WltcXV5fYGFiYw==\n"
    "====\n";

/* macutils: binhex -d hello.bin; hello.bin = "Hello, BinHex!\n", 200 NULs,
 * 90 90 00 90 "end" (so the run-length code and its escape are used). */
static const char hqx_macutils[] =
    "(This file must be converted; you knew that already.)\n"
    "\n"
    ":#@KPE'a[,Q*TEJ\"849K868&$33#3\"Gi!!!!!hDP)C@aXEb`J3QPZ5'9i)3S!N-L\n"
    "3!*!!!*!!C@jNIj-!!!:\n";

static unsigned char seq100[100];

/* inline_bin_find plus the invariants every answer must keep. */
static size_t find(const char *text, size_t len, struct inline_block **b_r)
{
	size_t n = inline_bin_find(text, len, b_r);
	struct inline_block *b = *b_r;

	CHECK((n == 0) == (b == NULL));
	CHECK(n <= INLINE_BIN_MAX_BLOCKS);
	for (size_t i = 0; i < n; i++) {
		size_t span = b[i].end - b[i].start;
		CHECK(b[i].start < b[i].end && b[i].end <= len);
		CHECK(i == 0 || b[i].start >= b[i - 1].end);
		CHECK(b[i].start == 0 || text[b[i].start - 1] == '\n');
		CHECK(b[i].end == len || text[b[i].end - 1] == '\n');
		CHECK(b[i].kind != NULL);
		if (b[i].kind && !strcmp(b[i].kind, "BinHex"))
			CHECK(b[i].data.len <= span * INLINE_BIN_BINHEX_EXPAND);
		else
			CHECK(b[i].data.len <= span);
		if (b[i].name) {
			CHECK(strlen(b[i].name) > 0 &&
			      strlen(b[i].name) <= INLINE_BIN_MAX_NAME_BYTES);
			for (const char *s = b[i].name; *s; s++)
				CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
		}
	}
	return n;
}

static size_t finds(const char *text, struct inline_block **b_r)
{
	return find(text, strlen(text), b_r);
}

static bool data_is(const struct inline_block *b, const void *p, size_t n)
{
	return b->data.len == n && (n == 0 || !memcmp(b->data.s, p, n));
}

static bool name_is(const struct inline_block *b, const char *name)
{
	if (!name || !b->name)
		return name == b->name;
	return !strcmp(b->name, name);
}

static size_t offset_of(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	return p ? (size_t)(p - text) : (size_t)-1;
}

/* LF to CRLF. */
static void crlf(const char *in, struct strbuf *out)
{
	strbuf_reset(out);
	for (; *in; in++) {
		if (*in == '\n')
			strbuf_putc(out, '\r');
		strbuf_putc(out, *in);
	}
}

/* ---- uuencode ---------------------------------------------------------- */

static void test_uu_sharutils(void)
{
	struct strbuf t = STRBUF_INIT, t2 = STRBUF_INIT;
	struct inline_block *b;
	size_t n;

	current = "uu_sharutils";
	strbuf_puts(&t, "Hello,\nhere is the file:\n");
	strbuf_puts(&t, uu_sharutils);
	strbuf_puts(&t, "regards\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(!strcmp(b[0].kind, "uuencode"));
		CHECK(name_is(&b[0], "data.bin"));
		CHECK(data_is(&b[0], seq100, 100));
		CHECK(b[0].complete);
		CHECK(b[0].start == offset_of(t.s, "begin"));
		CHECK(b[0].end == offset_of(t.s, "regards"));
	}
	inline_bin_free(b, n);

	current = "uu_sharutils_crlf";
	crlf(t.s, &t2);
	n = find(t2.s, t2.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(name_is(&b[0], "data.bin"));
		CHECK(data_is(&b[0], seq100, 100));
		CHECK(b[0].complete);
		CHECK(b[0].end == offset_of(t2.s, "regards"));
	}
	inline_bin_free(b, n);

	current = "uu_begin_base64";
	strbuf_reset(&t);
	strbuf_puts(&t, "see below\n");
	strbuf_puts(&t, uu_sharutils_b64);
	strbuf_puts(&t, "regards\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(name_is(&b[0], "data.bin"));
		CHECK(data_is(&b[0], seq100, 100));
		CHECK(b[0].complete);
		CHECK(b[0].end == offset_of(t.s, "regards"));
	}
	inline_bin_free(b, n);

	current = "uu_without_end_runs_to_end_of_text";
	strbuf_reset(&t);
	strbuf_puts(&t, "x\n");
	strbuf_append(&t, uu_sharutils, strlen(uu_sharutils) - strlen("`\nend\n"));
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(b[0].end == t.len);
		CHECK(!b[0].complete);
		CHECK(data_is(&b[0], seq100, 100));
	}
	inline_bin_free(b, n);

	current = "uu_without_end_stops_before_prose";
	strbuf_puts(&t, "thanks, bob\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(b[0].end == offset_of(t.s, "thanks"));
		CHECK(!b[0].complete);
	}
	inline_bin_free(b, n);

	current = "uu_zero_line_then_not_end";
	strbuf_reset(&t);
	strbuf_append(&t, uu_sharutils, strlen(uu_sharutils) - strlen("end\n"));
	strbuf_puts(&t, "e\nmore text\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(b[0].end == offset_of(t.s, "e\nmore"));
		CHECK(!b[0].complete);
		CHECK(data_is(&b[0], seq100, 100));
	}
	inline_bin_free(b, n);
	strbuf_free(&t);
	strbuf_free(&t2);
}

static void test_uu_prose_begin_is_not_a_block(void)
{
	static const char *const prose[] = {
	    "To start,\nbegin 644 something\nwas what the first line said.\n",
	    "begin 644 agenda\nMEETING AT 10\n",
	    "begin 644 tail-at-end-of-text\n",
	    "begin 644 x\n\nprose after a blank line\n",
	    "begin 2 weeks ago we met\n!00``\n`\nend\n",
	    "begin 10644 x\n!00``\n`\nend\n",
	    "beginning 644 x\n!00``\n`\nend\n",
	    " begin 644 x\n!00``\n`\nend\n",
	    "> begin 644 x\n> !00``\n",
	    "begin 644x\n!00``\n`\nend\n",
	    "begin-base64 644 notes\nTest\nmore prose\n",
	    "begin-base64 644 notes\nAAAA\nBBBB\n",
	    "begin-base64 644 notes\nthis is not base64 at all\n",
	};
	struct inline_block *b;

	current = "uu_prose_begin_is_not_a_block";
	for (size_t i = 0; i < sizeof(prose) / sizeof(prose[0]); i++) {
		size_t n = finds(prose[i], &b);
		if (n != 0)
			fprintf(stderr, "  taken as a block: %s", prose[i]);
		CHECK(n == 0);
		inline_bin_free(b, n);
	}
}

static void test_uu_small_cases(void)
{
	struct inline_block *b;
	char longname[5000 + 32];
	size_t n;

	current = "uu_empty_file";
	n = finds("begin 644 empty\n`\nend\n", &b);
	CHECK(n == 1 && data_is(&b[0], "", 0) && b[0].complete && name_is(&b[0], "empty"));
	inline_bin_free(b, n);

	current = "uu_missing_padding";
	n = finds("begin 644 a.txt\n!00\n`\nend\n", &b);
	CHECK(n == 1 && data_is(&b[0], "A", 1) && b[0].complete);
	inline_bin_free(b, n);

	current = "uu_blank_stripped_from_zero_line";
	n = finds("begin 644 a.txt\n!00``\n\nend\n", &b);
	CHECK(n == 1 && data_is(&b[0], "A", 1) && b[0].complete);
	inline_bin_free(b, n);

	current = "uu_trailing_garbage";
	n = finds("begin 644 a.txt\r\n!00``X\r\n`\r\nend\r\n", &b);
	CHECK(n == 1 && data_is(&b[0], "A", 1) && b[0].complete);
	inline_bin_free(b, n);

	current = "uu_no_name";
	n = finds("begin 0644\n!00``\n`\nend\n", &b);
	CHECK(n == 1 && name_is(&b[0], NULL) && data_is(&b[0], "A", 1));
	inline_bin_free(b, n);

	current = "uu_name_with_control_characters";
	n = finds("begin 644 a\x01z\x1b[2Jb.exe \t\n!00``\n`\nend\n", &b);
	CHECK(n == 1 && name_is(&b[0], "a?z?[2Jb.exe"));
	inline_bin_free(b, n);

	current = "uu_name_too_long";
	memcpy(longname, "begin 644 ", 10);
	memset(longname + 10, 'n', 5000);
	memcpy(longname + 5010, "\n!00``\n`\nend\n", 14);
	n = finds(longname, &b);
	CHECK(n == 1 && b[0].name && strlen(b[0].name) == INLINE_BIN_MAX_NAME_BYTES);
	inline_bin_free(b, n);

	current = "uu_short_line_is_damage";
	n = finds("begin 644 a\n"
	          "M86)C9&5F9VAI:FML;6YO<'%R<W1U=G=X>7IA8F-D969G:&EJ:VQM;F]P<7)S\n"
	          "M86)C9&5F9VAI:FML;6YO<'%R<W1U\n"
	          "`\nend\nafter\n",
	          &b);
	CHECK(n == 1 && !b[0].complete && b[0].data.len == 45 + 21 && b[0].data.s &&
	      !memcmp(b[0].data.s, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs", 45));
	inline_bin_free(b, n);

	current = "uu_m_line_short_but_plausible";
	n = finds("begin 644 a\n"
	          "M86)C9&5F9VAI:FML;6YO<'%R<W1U=G=X>7IA8F-D969G:&EJ:VQM;F]P\n"
	          "`\nend\n",
	          &b);
	CHECK(n == 1 && !b[0].complete);
	inline_bin_free(b, n);

	current = "uu_begin_line_inside_block_starts_no_new_one";
	n = finds("begin 644 a\n!00``\nbegin 644 b\n!00``\n`\nend\n", &b);
	CHECK(n == 2 && !b[0].complete && b[1].complete && name_is(&b[1], "b"));
	inline_bin_free(b, n);
}

/* ---- yEnc -------------------------------------------------------------- */

static uint32_t crc32_bitwise(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* A plain yEnc encoder for round trips (lines of up to 128 characters). */
static void yenc_encode(const unsigned char *p, size_t n, struct strbuf *out)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(p[i] + 42);
		if (c == 0 || c == '\n' || c == '\r' || c == '=' || (col == 0 && c == '.')) {
			strbuf_putc(out, '=');
			c = (unsigned char)(c + 64);
			col++;
		}
		strbuf_putc(out, (char)c);
		if (++col >= 128) {
			strbuf_putc(out, '\n');
			col = 0;
		}
	}
	if (col)
		strbuf_putc(out, '\n');
}

static void yenc_python(struct strbuf *t, const char *head, const char *tail)
{
	strbuf_reset(t);
	strbuf_puts(t, "Hi,\n");
	strbuf_puts(t, head);
	strbuf_append(t, yenc_python_enc, sizeof(yenc_python_enc));
	strbuf_puts(t, "\n");
	strbuf_puts(t, tail);
}

static void test_yenc(void)
{
	struct strbuf t = STRBUF_INIT, t2 = STRBUF_INIT;
	struct inline_block *b;
	unsigned char rnd[10000];
	uint32_t seed = 12345;
	size_t n;

	current = "yenc_python";
	yenc_python(&t, "=ybegin line=128 size=83 name=pay load.bin\n",
	            "=yend size=83 crc32=9a87e690\nbye\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(!strcmp(b[0].kind, "yEnc"));
		CHECK(name_is(&b[0], "pay load.bin"));
		CHECK(data_is(&b[0], yenc_python_data, sizeof(yenc_python_data)));
		CHECK(b[0].complete);
		CHECK(b[0].start == offset_of(t.s, "=ybegin"));
		CHECK(b[0].end == offset_of(t.s, "bye"));
	}
	inline_bin_free(b, n);

	current = "yenc_python_crlf";
	strbuf_reset(&t2);
	for (size_t i = 0; i < t.len; i++) {
		if (t.s[i] == '\n')
			strbuf_putc(&t2, '\r');
		strbuf_putc(&t2, t.s[i]);
	}
	n = find(t2.s, t2.len, &b);
	CHECK(n == 1 && data_is(&b[0], yenc_python_data, sizeof(yenc_python_data)) &&
	      b[0].complete);
	inline_bin_free(b, n);

	current = "yenc_bad_crc";
	yenc_python(&t, "=ybegin line=128 size=83 name=p\n", "=yend size=83 crc32=9a87e691\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete &&
	      data_is(&b[0], yenc_python_data, sizeof(yenc_python_data)));
	inline_bin_free(b, n);

	current = "yenc_size_mismatch";
	yenc_python(&t, "=ybegin line=128 size=84 name=p\n", "=yend size=83\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete);
	inline_bin_free(b, n);
	yenc_python(&t, "=ybegin line=128 size=83 name=p\n", "=yend size=82\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete);
	inline_bin_free(b, n);

	current = "yenc_multipart";
	yenc_python(
	    &t, "=ybegin part=1 total=3 line=128 size=300 name=\"p.bin\"\n=ypart begin=1 end=83\n",
	    "=yend size=83 part=1 pcrc32=9A87E690 crc32=deadbeef\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && b[0].complete && name_is(&b[0], "p.bin") &&
	      data_is(&b[0], yenc_python_data, sizeof(yenc_python_data)));
	inline_bin_free(b, n);
	yenc_python(
	    &t, "=ybegin part=2 total=3 line=128 size=300 name=p.bin\n=ypart begin=84 end=200\n",
	    "=yend size=83 part=2\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete);
	inline_bin_free(b, n);

	current = "yenc_no_yend_stops_at_blank_line";
	yenc_python(&t, "=ybegin line=128 size=83 name=p\n", "\nprose after it\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && b[0].end == offset_of(t.s, "\nprose") &&
	      data_is(&b[0], yenc_python_data, sizeof(yenc_python_data)));
	inline_bin_free(b, n);

	current = "yenc_no_yend_runs_to_end_of_text";
	yenc_python(&t, "=ybegin line=128 size=83 name=p\n", "");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && b[0].end == t.len);
	inline_bin_free(b, n);

	current = "yenc_dangling_escape";
	n = finds("=ybegin line=128 size=1 name=p\nk=\n=yend size=1\n", &b);
	CHECK(n == 1 && !b[0].complete && data_is(&b[0], "A", 1));
	inline_bin_free(b, n);

	current = "yenc_second_ybegin_without_yend";
	n = finds("=ybegin size=1 name=a\nk\n=ybegin size=1 name=b\nk\n=yend size=1\n", &b);
	CHECK(n == 2 && !b[0].complete && b[1].complete && name_is(&b[0], "a") &&
	      name_is(&b[1], "b"));
	inline_bin_free(b, n);

	current = "yenc_not_a_header";
	n = finds("=ybeginning\n=yend size=0\n=ypart begin=1\n==\n", &b);
	CHECK(n == 0);
	inline_bin_free(b, n);

	current = "yenc_empty_file";
	n = finds("=ybegin line=128 size=0 name=empty\n=yend size=0 crc32=00000000\n", &b);
	CHECK(n == 1 && b[0].complete && b[0].data.len == 0);
	inline_bin_free(b, n);

	current = "yenc_round_trip";
	for (size_t i = 0; i < sizeof(rnd); i++) {
		seed = seed * 1103515245u + 12345u;
		rnd[i] = (unsigned char)(seed >> 16);
	}
	strbuf_reset(&t);
	strbuf_printf(&t, "=ybegin line=128 size=%zu name=r.bin\n", sizeof(rnd));
	yenc_encode(rnd, sizeof(rnd), &t);
	strbuf_printf(&t, "=yend size=%zu crc32=%08x\n", sizeof(rnd),
	              (unsigned)crc32_bitwise(rnd, sizeof(rnd)));
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && b[0].complete && data_is(&b[0], rnd, sizeof(rnd)));
	inline_bin_free(b, n);
	strbuf_free(&t);
	strbuf_free(&t2);
}

/* ---- BinHex ------------------------------------------------------------ */

static uint16_t crc16_xmodem(const unsigned char *p, size_t n)
{
	uint16_t c = 0;

	for (size_t i = 0; i < n; i++) {
		c ^= (uint16_t)(p[i] << 8);
		for (int k = 0; k < 8; k++)
			c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1);
	}
	return c;
}

static void be(struct strbuf *b, uint32_t v, int bytes)
{
	while (bytes--)
		strbuf_putc(b, (char)(v >> (8 * bytes)));
}

/* The decoded BinHex stream of one file (no run-length coding). */
static void hqx_stream(const char *name, const void *data, size_t n, struct strbuf *s)
{
	uint16_t crc;

	strbuf_reset(s);
	strbuf_putc(s, (char)strlen(name));
	strbuf_puts(s, name);
	strbuf_putc(s, 0);
	strbuf_append(s, "TEXTMACA\0\0", 10);
	be(s, (uint32_t)n, 4);
	be(s, 0, 4);
	crc = crc16_xmodem((const unsigned char *)s->s, s->len);
	be(s, crc, 2);
	strbuf_append(s, data, n);
	be(s, crc16_xmodem(data, n), 2);
	be(s, 0, 2); /* empty resource fork, CRC 0 */
}

/* 6-bit encoding with the BinHex alphabet, 64 characters a line. */
static void hqx_encode(const struct strbuf *s, struct strbuf *out)
{
	static const char al[] =
	    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
	uint32_t acc = 0;
	int bits = 0;
	size_t col = 1;

	strbuf_puts(out, "(This file must be converted with BinHex 4.0)\n:");
	for (size_t i = 0; i < s->len; i++) {
		acc = acc << 8 | (unsigned char)s->s[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			strbuf_putc(out, al[(acc >> bits) & 63]);
			if (++col == 64) {
				strbuf_putc(out, '\n');
				col = 0;
			}
		}
	}
	if (bits)
		strbuf_putc(out, al[(acc << (6 - bits)) & 63]);
	strbuf_puts(out, ":\n");
}

static void test_binhex(void)
{
	struct strbuf t = STRBUF_INIT, s = STRBUF_INIT, want = STRBUF_INIT;
	struct inline_block *b;
	char *bad;
	size_t n;

	strbuf_puts(&want, "Hello, BinHex!\n");
	for (int i = 0; i < 200; i++)
		strbuf_putc(&want, 0);
	strbuf_append(&want,
	              "\x90\x90\x00\x90"
	              "end",
	              7);

	current = "binhex_macutils";
	strbuf_puts(&t, "Hi\n");
	strbuf_puts(&t, hqx_macutils);
	strbuf_puts(&t, "bye\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(!strcmp(b[0].kind, "BinHex"));
		CHECK(name_is(&b[0], "hello.bin"));
		CHECK(data_is(&b[0], want.s, want.len));
		CHECK(b[0].complete);
		CHECK(b[0].start == 3 && b[0].end == offset_of(t.s, "bye"));
	}
	inline_bin_free(b, n);

	current = "binhex_bad_crc";
	bad = strstr(t.s, "C@jNIj");
	if (bad)
		bad[0] = 'D';
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && name_is(&b[0], "hello.bin"));
	inline_bin_free(b, n);

	current = "binhex_unclosed_stops_before_prose";
	strbuf_reset(&t);
	strbuf_append(&t, hqx_macutils, strlen(hqx_macutils) - 2);
	strbuf_puts(&t, "\n\nthanks, bob\n");
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && b[0].end == offset_of(t.s, "\nthanks") &&
	      name_is(&b[0], "hello.bin"));
	inline_bin_free(b, n);

	current = "binhex_marker_only";
	n = finds("(This file must be converted with BinHex 4.0)\nno data here\n", &b);
	CHECK(n == 1 && !b[0].complete && b[0].start == 0 &&
	      b[0].end == strlen("(This file must be converted with BinHex 4.0)\n") &&
	      b[0].data.len == 0);
	inline_bin_free(b, n);

	current = "binhex_marker_case_and_variant";
	n = finds("(this FILE must be converted with BinHex 5.0)\n", &b);
	CHECK(n == 1);
	inline_bin_free(b, n);
	n = finds("(This is just a remark)\n(This file\n", &b);
	CHECK(n == 0);
	inline_bin_free(b, n);

	current = "binhex_round_trip";
	hqx_stream("report.doc", "\x90\x00\x01 data \x90", 10, &s);
	/* 0x90 in the data is escaped as 90 00 for the run-length code. */
	strbuf_reset(&want);
	for (size_t i = 0; i < s.len; i++) {
		strbuf_putc(&want, s.s[i]);
		if ((unsigned char)s.s[i] == 0x90)
			strbuf_putc(&want, 0);
	}
	strbuf_reset(&t);
	hqx_encode(&want, &t);
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && b[0].complete && name_is(&b[0], "report.doc") &&
	      data_is(&b[0], "\x90\x00\x01 data \x90", 10));
	inline_bin_free(b, n);

	current = "binhex_data_fork_longer_than_stream";
	strbuf_reset(&s);
	hqx_stream("big", "abc", 3, &s);
	s.s[1 + 3 + 1 + 10 + 3] = 0x7f; /* data length 0x7f03 */
	strbuf_reset(&t);
	hqx_encode(&s, &t);
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && b[0].data.len < 0x7f03);
	inline_bin_free(b, n);

	current = "binhex_run_length_bomb";
	strbuf_reset(&s);
	strbuf_putc(&s, 4);
	strbuf_puts(&s, "bomb");
	strbuf_putc(&s, 0);
	strbuf_append(&s, "TEXTMACA\0\0", 10);
	be(&s, 0x7fffffff, 4);
	be(&s, 0, 4);
	be(&s, 0, 2);
	strbuf_putc(&s, 0);
	for (int i = 0; i < 4000; i++)
		strbuf_append(&s, "\x90\xff", 2);
	strbuf_reset(&t);
	hqx_encode(&s, &t);
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && !b[0].complete && name_is(&b[0], "bomb"));
	if (n == 1)
		CHECK(b[0].data.len > t.len && b[0].data.len <= t.len * INLINE_BIN_BINHEX_EXPAND);
	inline_bin_free(b, n);

	current = "binhex_truncated_header";
	n = finds("(This file must be converted with BinHex 4.0)\n:#@KPE:\n", &b);
	CHECK(n == 1 && !b[0].complete && b[0].data.len == 0);
	inline_bin_free(b, n);

	strbuf_free(&t);
	strbuf_free(&s);
	strbuf_free(&want);
}

/* ---- limits and mixtures ----------------------------------------------- */

static void test_block_cap(void)
{
	struct strbuf t = STRBUF_INIT;
	struct inline_block *b;
	size_t n;

	current = "block_cap_last_runs_to_end";
	for (int i = 0; i < INLINE_BIN_MAX_BLOCKS + 5; i++)
		strbuf_puts(&t, "=ybegin name=a\n=yend\n");
	strbuf_puts(&t, "begin 644 x\n!00``\n`\nend\ntail\n");
	n = find(t.s, t.len, &b);
	CHECK(n == INLINE_BIN_MAX_BLOCKS);
	if (n == INLINE_BIN_MAX_BLOCKS) {
		CHECK(b[n - 1].end == t.len && !b[n - 1].complete);
		CHECK(b[n - 2].complete);
	}
	inline_bin_free(b, n);
	strbuf_free(&t);
}

static void test_mixture(void)
{
	struct strbuf t = STRBUF_INIT;
	struct inline_block *b;
	size_t n;

	current = "all_three_kinds_in_one_text";
	strbuf_puts(&t, "first\n");
	strbuf_puts(&t, uu_sharutils);
	strbuf_puts(&t, "second\n=ybegin size=1 name=y\nk\n=yend size=1\nthird\n");
	strbuf_puts(&t, hqx_macutils);
	strbuf_puts(&t, "fourth");
	n = find(t.s, t.len, &b);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(!strcmp(b[0].kind, "uuencode") && !strcmp(b[1].kind, "yEnc") &&
		      !strcmp(b[2].kind, "BinHex"));
		CHECK(b[0].complete && b[1].complete && b[2].complete);
		CHECK(b[2].end == offset_of(t.s, "fourth"));
	}
	inline_bin_free(b, n);

	current = "no_text";
	n = inline_bin_find(NULL, 0, &b);
	CHECK(n == 0 && b == NULL);
	n = inline_bin_find("", 0, &b);
	CHECK(n == 0 && b == NULL);
	n = finds("b", &b);
	CHECK(n == 0);
	n = finds("=", &b);
	CHECK(n == 0);
	n = finds("(", &b);
	CHECK(n == 0);

	current = "last_line_without_newline";
	n = finds("begin 644 a\n!00``\n`\nend", &b);
	CHECK(n == 1 && b[0].complete && b[0].end == strlen("begin 644 a\n!00``\n`\nend"));
	inline_bin_free(b, n);
	strbuf_free(&t);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lines that start where the finder looks closer, none of them a block. */
static void test_adversarial_is_linear(void)
{
	static const char *const lines[] = {
	    "begin 644 x\n",        "begin-base64 644 x\nAAAA\n",   "=ybeginning\n",
	    "(This is a remark)\n", "begin 644 x\nMEETING AT 10\n",
	};
	struct strbuf t = STRBUF_INIT;
	struct inline_block *b;
	size_t n;
	double t0, dt;

	current = "adversarial_is_linear";
	for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
		strbuf_reset(&t);
		while (t.len < 4u << 20)
			strbuf_puts(&t, lines[k]);
		t0 = now_s();
		n = find(t.s, t.len, &b);
		dt = now_s() - t0;
		CHECK(n == 0);
		CHECK(dt < 5.0); /* generous: sanitizers, a loaded machine */
		inline_bin_free(b, n);
	}
	strbuf_free(&t);
}

/* 10 MB of mail-like text: ASCII and Japanese lines, quotes, some lines
 * that start with 'b', '=' or '('. */
static void bench(void)
{
	static const char *const lines[] = {
	    "Dear all, please find the minutes of the meeting attached below.\n",
	    "> quoted text from the previous message, as replies carry it\n",
	    "本日の会議の議事録を送付いたします。ご確認をお願いいたします。\n",
	    "best regards, and thank you for your help with the procurement\n",
	    "=E3=81=82 quoted-printable that was not decoded, say\n",
	    "(note: the budget line was updated on Tuesday)\n",
	    "\n",
	    "総務課　情報政策係　担当：山田\n",
	    "but this line starts with b and is ordinary prose\n",
	};
	struct strbuf t = STRBUF_INIT;
	struct inline_block *b;
	size_t n, i = 0;
	double t0, dt, best = 1e9;

	while (t.len < 10u * 1000 * 1000)
		strbuf_puts(&t, lines[i++ % (sizeof(lines) / sizeof(lines[0]))]);
	for (int r = 0; r < 5; r++) {
		t0 = now_s();
		n = inline_bin_find(t.s, t.len, &b);
		dt = now_s() - t0;
		inline_bin_free(b, n);
		if (dt < best)
			best = dt;
	}
	printf("inline_bin_find: %zu bytes, %zu lines, best of 5: %.2f ms, %.0f MB/s\n", t.len, i,
	       best * 1e3, (double)t.len / best / 1e6);
	strbuf_free(&t);
}

static void test_clamav_testfiles(const char *dir)
{
	struct strbuf exe = STRBUF_INIT, t = STRBUF_INIT;
	struct inline_block *b;
	char path[4096];
	size_t n;
	int w;

	current = "clamav_testfiles";
	w = snprintf(path, sizeof(path), "%s/clam.exe", dir);
	if (w < 0 || (size_t)w >= sizeof(path) || !strbuf_read_file(&exe, path)) {
		printf("clamav-testfiles not in %s: skipped\n", dir);
		return;
	}
	/* The sample is cut after its "`" line: "e" instead of "end". */
	w = snprintf(path, sizeof(path), "%s/clam.exe.mbox.uu", dir);
	CHECK(w > 0 && (size_t)w < sizeof(path) && strbuf_read_file(&t, path));
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && name_is(&b[0], "clam.exe") && data_is(&b[0], exe.s, exe.len) &&
	      !b[0].complete);
	inline_bin_free(b, n);
	strbuf_reset(&t);
	w = snprintf(path, sizeof(path), "%s/clam.exe.binhex", dir);
	CHECK(w > 0 && (size_t)w < sizeof(path) && strbuf_read_file(&t, path));
	n = find(t.s, t.len, &b);
	CHECK(n == 1 && name_is(&b[0], "clam.exe") && data_is(&b[0], exe.s, exe.len) &&
	      b[0].complete);
	inline_bin_free(b, n);
	strbuf_free(&t);
	strbuf_free(&exe);
}

int main(int argc, char **argv)
{
	for (int i = 0; i < 100; i++)
		seq100[i] = (unsigned char)i;
	if (argc > 1 && !strcmp(argv[1], "bench")) {
		bench();
		return 0;
	}
	test_uu_sharutils();
	test_uu_prose_begin_is_not_a_block();
	test_uu_small_cases();
	test_yenc();
	test_binhex();
	test_block_cap();
	test_mixture();
	test_adversarial_is_linear();
	if (argc > 1)
		test_clamav_testfiles(argv[1]);
	if (failures) {
		fprintf(stderr, "inline_bin_test: %d checks failed\n", failures);
		return 1;
	}
	printf("inline_bin_test: all checks passed\n");
	return 0;
}
