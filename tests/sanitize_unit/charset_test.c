/*
 * charset_test - unit tests of sanitizer/charset.c, named after the input
 * they try.  Byte strings were produced with python3's cp932/euc_jp codecs
 * (ISO-2022-JP by converting the CP932 bytes to JIS row/cell, as CP50220
 * does).  Exit status 1 and one line per failed check on stderr.
 */
#include "charset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define REPL "\xEF\xBF\xBD"

/* Decode and compare; also the decoder used and the replacement count
 * (used == NULL or repl == (size_t)-1: not checked). */
static void check_decode(int line, const char *cs, const char *in, size_t len, const char *want,
                         const char *want_used, size_t want_repl)
{
	struct strbuf out;
	const char *used = NULL;
	size_t repl;

	strbuf_init(&out, 0);
	repl = charset_decode(cs, in, len, &out, &used);
	if (strcmp(out.s ? out.s : "", want) != 0) {
		fprintf(stderr, "%s:%d: decode(%s) = \"%s\", want \"%s\"\n", __FILE__, line,
		        cs ? cs : "NULL", out.s ? out.s : "", want);
		failures++;
	}
	if (want_used && (!used || strcmp(used, want_used) != 0)) {
		fprintf(stderr, "%s:%d: decode(%s) used %s, want %s\n", __FILE__, line,
		        cs ? cs : "NULL", used ? used : "NULL", want_used);
		failures++;
	}
	if (want_repl != (size_t)-1 && repl != want_repl) {
		fprintf(stderr, "%s:%d: decode(%s) made %zu replacements, want %zu\n", __FILE__,
		        line, cs ? cs : "NULL", repl, want_repl);
		failures++;
	}
	strbuf_free(&out);
}

#define DECODE(cs, lit, want, used, repl)                                                          \
	check_decode(__LINE__, cs, lit, sizeof(lit) - 1, want, used, repl)

static void check_header(int line, const char *in, const char *want, size_t want_repl)
{
	struct strbuf out;
	size_t repl;

	strbuf_init(&out, 0);
	repl = charset_decode_header(in, strlen(in), &out);
	if (strcmp(out.s ? out.s : "", want) != 0) {
		fprintf(stderr, "%s:%d: header \"%s\" = \"%s\", want \"%s\"\n", __FILE__, line, in,
		        out.s ? out.s : "", want);
		failures++;
	}
	if (want_repl != (size_t)-1 && repl != want_repl) {
		fprintf(stderr, "%s:%d: header \"%s\": %zu replacements, want %zu\n", __FILE__,
		        line, in, repl, want_repl);
		failures++;
	}
	strbuf_free(&out);
}

#define HEADER(in, want, repl) check_header(__LINE__, in, want, repl)

/* ①②③㈱Ⅰ～髙 in each Japanese charset. */
#define EXT_UTF8 "①②③㈱Ⅰ～髙"
#define EXT_JIS "\x1b$B-!-\x22-#-j-5!A|b\x1b(B"
#define EXT_SJIS                                                                                   \
	"\x87@\x87"                                                                                \
	"A\x87"                                                                                    \
	"B\x87\x8a\x87T\x81`\xee\xe0"
#define EXT_EUC "\xad\xa1\xad\xa2\xad\xa3\xad\xea\xad\xb5\xa1\xc1\xfc\xe2"
/* こんにちは、世界。件名です */
#define TEXT_UTF8 "こんにちは、世界。件名です"
#define TEXT_JIS "\x1b$B$3$s$K$A$O!\x22@$3&!#7oL>$G$9\x1b(B"
#define TEXT_SJIS                                                                                  \
	"\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd\x81"                                             \
	"A\x90\xa2\x8a"                                                                            \
	"E\x81"                                                                                    \
	"B\x8c\x8f\x96\xbc\x82\xc5\x82\xb7"
#define TEXT_EUC                                                                                   \
	"\xa4\xb3\xa4\xf3\xa4\xcb\xa4\xc1\xa4\xcf\xa1\xa2\xc0\xa4\xb3\xa6\xa1\xa3\xb7\xef\xcc\xbe" \
	"\xa4\xc7\xa4\xb9"

static void iso2022jp_cp50220_extensions(void)
{
	DECODE("ISO-2022-JP", EXT_JIS, EXT_UTF8, "ISO-2022-JP", 0);
	DECODE("iso-2022-jp", "a " EXT_JIS " b", "a " EXT_UTF8 " b", "ISO-2022-JP", 0);
	DECODE("CP50220", TEXT_JIS "\r\n", TEXT_UTF8 "\n", "ISO-2022-JP", 0);
	/* the old ESC $ @ and the long ESC $ ( B forms */
	DECODE("iso-2022-jp", "\x1b$@$3$s\x1b(J!\x1b$(B$K\x1b(B", "こん!に", NULL, 0);
}

static void iso2022jp_halfwidth_katakana(void)
{
	/* ESC ( I (CP50222), SO/SI (CP50221), 8-bit JIS8 bytes */
	DECODE("iso-2022-jp", "\x1b(I6^\x1b(Bx", "ｶﾞx", NULL, 0);
	DECODE("iso-2022-jp",
	       "\x1b$B$\"\x1b(Ba\x0e\x31\x32\x0f"
	       "b",
	       "あaｱｲb", NULL, 0);
	DECODE("iso-2022-jp", "\x1b$B$\"\x1b(B\xb1\xb2", "あｱｲ", NULL, 0);
	/* beyond the kana range: visible */
	DECODE("iso-2022-jp", "\x1b(I1\x60\x1b(B", "ｱ" REPL, NULL, 1);
}

static void iso2022jp_invalid_bytes(void)
{
	/* unknown designation: one U+FFFD for it, one per pair after it */
	DECODE("iso-2022-jp", "a\x1b$(Z!!!!\x1b(Bb", "a" REPL REPL REPL "b", NULL, 3);
	/* ESC followed by nothing sensible: the ESC is replaced, text goes on */
	DECODE("iso-2022-jp", "a\x1b\x01z\x1b$B$\"", "a" REPL REPL "zあ", NULL, 2);
	/* half a pair before the line end */
	DECODE("iso-2022-jp", "\x1b$B$\"$\x1b(B\n", "あ" REPL "\n", NULL, 1);
	/* unassigned row (9) */
	DECODE("iso-2022-jp", "\x1b$B)!$\"\x1b(B", REPL "あ", NULL, 1);
	/* 8-bit bytes that are not JIS8 katakana */
	DECODE("iso-2022-jp", "\x1b$B$\"\x1b(B\x80\xff", "あ" REPL REPL, NULL, 2);
	/* truncated escape at the very end */
	DECODE("iso-2022-jp", "\x1b$B$\"\x1b(", "あ" REPL REPL, NULL, 2);
}

static void iso2022jp_line_without_return_to_ascii(void)
{
	/* the next line is plain English: reads as ASCII */
	DECODE("iso-2022-jp", "\x1b$B$3$s\nHello world\n", "こん\nHello world\n", NULL, 0);
	/* the next line goes on in kanji without a new ESC $ B */
	DECODE("iso-2022-jp", "\x1b$B$3$s\r\n$3$s$K$A$O\x1b(B ok\r\n", "こん\nこんにちは ok\n",
	       NULL, 0);
	/* a short kanji-only line goes on too */
	DECODE("iso-2022-jp", "\x1b$B$3\n3t<02q<R\x1b(B\n", "こ\n株式会社\n", NULL, 0);
	/* odd length: ASCII */
	DECODE("iso-2022-jp", "\x1b$B$3\nabc\n", "こ\nabc\n", NULL, 0);
	/* and a line left in katakana mode */
	DECODE("iso-2022-jp", "\x1b(I12\nabc", "ｱｲ\nabc", NULL, 0);
}

static void iso2022jp_other_sets(void)
{
	/* JIS X 0212 (ESC $ ( D) through iconv: 丂 */
	DECODE("iso-2022-jp", "\x1b$(D0!\x1b(B", "丂", NULL, 0);
	/* ISO-2022-JP-2 G2 latin-1 with single shift */
	DECODE("iso-2022-jp-2", "caf\x1b.A\x1bNi", "café", NULL, 0);
}

static void cp932_aliases_and_extensions(void)
{
	static const char *const labels[] = {"Shift_JIS", "SJIS",      "x-sjis",    "Windows-31J",
	                                     "MS932",     "cp932",     "shift-jis", "\"Shift_JIS\"",
	                                     "ms_kanji",  "csShiftJIS"};
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		DECODE(labels[i], EXT_SJIS "\xb1\xb6\xde", EXT_UTF8 "ｱｶﾞ", "CP932", 0);
	DECODE("shift_jis", TEXT_SJIS, TEXT_UTF8, "CP932", 0);
	/* user-defined area (gaiji) keeps its private-use code point */
	DECODE("shift_jis", "\xf0\x40", "\xee\x80\x80", "CP932", 0);
	/* backslash and tilde stay ASCII */
	DECODE("shift_jis", "C:\\~", "C:\\~", "CP932", 0);
}

static void cp932_invalid_bytes(void)
{
	DECODE("shift_jis",
	       "a\x80"
	       "b\xa0"
	       "c\xfd\xfe\xff",
	       "a" REPL "b" REPL "c" REPL REPL REPL, "CP932", 5);
	/* a lead byte at the end, and one before a byte that cannot trail */
	DECODE("shift_jis", "\x82\xa0\x82", "あ" REPL, "CP932", 1);
	DECODE("shift_jis", "\x82\n\x82\xa0", REPL "\nあ", "CP932", 1);
	/* unassigned pair with an ASCII trail: the trail is read again */
	DECODE("shift_jis",
	       "\x85"
	       "A\x82\xa0",
	       REPL "Aあ", "CP932", 1);
}

static void eucjp_text_and_extensions(void)
{
	DECODE("EUC-JP", TEXT_EUC, TEXT_UTF8, "EUC-JP", 0);
	DECODE("x-euc-jp", EXT_EUC, EXT_UTF8, "EUC-JP", 0);
	DECODE("euc-jp", "\x8e\xb1\x8e\xb6\x8e\xde", "ｱｶﾞ", "EUC-JP", 0);
	/* JIS X 0212 three-byte form */
	DECODE("euc-jp", "\x8f\xb0\xa1", "丂", "EUC-JP", 0);
}

static void eucjp_invalid_bytes(void)
{
	DECODE("euc-jp", "\xa4\xa2\x80x\xa4", "あ" REPL "x" REPL, "EUC-JP", 2);
	DECODE("euc-jp", "\x8e\x41", REPL "A", "EUC-JP", 1);
	DECODE("euc-jp", "\xa4\xa2\x8f\xb0", "あ" REPL REPL, "EUC-JP", 2);
}

static void utf8_invalid_sequences(void)
{
	/* overlong '/', overlong 3-byte, surrogate, out of range, truncated */
	DECODE("utf-8",
	       "a\xc0\xaf"
	       "b",
	       "a" REPL REPL "b", "UTF-8", 2);
	DECODE("utf-8", "\xe0\x80\xaf", REPL REPL REPL, "UTF-8", 3);
	DECODE("utf-8", "\xed\xa0\x80x", REPL REPL REPL "x", "UTF-8", 3);
	DECODE("utf-8", "\xf4\x90\x80\x80", REPL REPL REPL REPL, "UTF-8", 4);
	DECODE("utf-8", "\xf5x", REPL "x", "UTF-8", 1);
	DECODE("utf-8", "ok\xe3\x81", "ok" REPL, "UTF-8", 1);
	DECODE("utf-8", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "UTF-8", 0);
}

static void control_characters(void)
{
	/* CR LF and lone CR become LF, TAB stays, other controls are visible */
	DECODE("us-ascii", "a\r\nb\rc\td\0e\x7f", "a\nb\nc\td" REPL "e" REPL, "US-ASCII", 2);
	/* C1 controls and bidi overrides (file-name spoofing) */
	DECODE("utf-8",
	       "x\xc2\x85y\xe2\x80\xae"
	       "exe.txt",
	       "x" REPL "y" REPL "exe.txt", "UTF-8", 2);
	/* a leading byte order mark goes; later ones stay */
	DECODE("utf-8", "\xef\xbb\xbfhi\xef\xbb\xbf", "hi\xef\xbb\xbf", "UTF-8", 0);
	/* a CR at the very end still ends the line */
	DECODE("utf-8", "end\r", "end\n", "UTF-8", 0);
}

static void mislabelled_input(void)
{
	/* Shift_JIS labelled ISO-2022-JP (no escapes, 8-bit bytes) */
	DECODE("iso-2022-jp", TEXT_SJIS, TEXT_UTF8, "CP932", 0);
	/* UTF-8 labelled us-ascii */
	DECODE("us-ascii", TEXT_UTF8, TEXT_UTF8, "UTF-8", 0);
	/* UTF-8 labelled Shift_JIS (it would decode as 縺薙ｓ...) */
	DECODE("shift_jis", TEXT_UTF8, TEXT_UTF8, "UTF-8", 0);
	/* Shift_JIS labelled UTF-8 */
	DECODE("utf-8", TEXT_SJIS, TEXT_UTF8, "CP932", 0);
	/* ISO-2022-JP labelled iso-8859-1 */
	DECODE("iso-8859-1", TEXT_JIS, TEXT_UTF8, "ISO-2022-JP", 0);
	/* ISO-2022-JP labelled Shift_JIS */
	DECODE("shift_jis", TEXT_JIS, TEXT_UTF8, "ISO-2022-JP", 0);
	/* latin-1 labelled UTF-8 stays UTF-8, visibly replaced */
	DECODE("utf-8", "caf\xe9", "caf" REPL, "UTF-8", 1);
}

static void unknown_and_iconv_charsets(void)
{
	struct charset_counters c;

	charset_counters(NULL, true);
	DECODE("x-no-such-charset", TEXT_SJIS, TEXT_UTF8, "CP932", 0);
	DECODE(NULL, TEXT_EUC, TEXT_UTF8, "EUC-JP", 0);
	DECODE("", "plain", "plain", "US-ASCII", 0);
	/* suffixes iconv would obey are not charset names */
	DECODE("utf-8//IGNORE", "caf\xc3\xa9", "café", "UTF-8", 0);
	charset_counters(&c, false);
	CHECK(c.unknown_labels == 2);
	DECODE("iso-8859-1", "caf\xe9 \x80", "café €", "WINDOWS-1252", 0);
	DECODE("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет", "koi8-r", 0);
	DECODE("utf-16", "\xff\xfe\x42\x30\x44\x30", "あい", "utf-16", 0);
	DECODE("windows-1252",
	       "a\x81"
	       "b",
	       "a" REPL "b", NULL, 1);
	CHECK(charset_known("Shift_JIS") && charset_known("koi8-r") && !charset_known("x-bogus"));
}

static void guesses(void)
{
	CHECK(strcmp(charset_guess("hello", 5), "US-ASCII") == 0);
	CHECK(strcmp(charset_guess(TEXT_JIS, sizeof(TEXT_JIS) - 1), "ISO-2022-JP") == 0);
	CHECK(strcmp(charset_guess(TEXT_UTF8, sizeof(TEXT_UTF8) - 1), "UTF-8") == 0);
	CHECK(strcmp(charset_guess(TEXT_SJIS, sizeof(TEXT_SJIS) - 1), "CP932") == 0);
	CHECK(strcmp(charset_guess(TEXT_EUC, sizeof(TEXT_EUC) - 1), "EUC-JP") == 0);
	CHECK(strcmp(charset_guess("caf\xe9 r\xe9sum\xe9", 11), "windows-1252") == 0);
	CHECK(strcmp(charset_guess(EXT_SJIS, sizeof(EXT_SJIS) - 1), "CP932") == 0);
}

static void encoded_words(void)
{
	HEADER("=?UTF-8?B?44GC44GE44GG?=", "あいう", 0);
	/* lowercase, Q with underscores, language suffix (RFC 2231) */
	HEADER("=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait", 0);
	HEADER("=?ISO-2022-JP*ja?b?GyRCRnxLXDhsGyhC?=", "日本語", 0);
	/* white space between adjacent words goes, elsewhere it stays */
	HEADER("Re: =?UTF-8?B?44GC?=  \r\n =?UTF-8?B?44GE?= x  y", "Re: あい x  y", 0);
	/* no white space around words */
	HEADER("a=?UTF-8?B?44GC?==?UTF-8?B?44GE?=b", "aあいb", 0);
	/* a UTF-8 character split across two words */
	HEADER("=?UTF-8?B?44E=?= =?UTF-8?B?guOBhA==?=", "あい", 0);
	/* the base64 text itself split mid-quantum */
	HEADER("=?utf-8?b?44?= =?utf-8?b?GC?=", "あ", 0);
	/* an ISO-2022-JP word that does not return to ASCII */
	HEADER("=?ISO-2022-JP?B?GyRCRnw=?= =?ISO-2022-JP?B?S1w4bBsoQg==?=", "日本語", 0);
	/* different charsets next to each other */
	HEADER("=?iso-2022-jp?B?GyRCRnxLXBsoQg==?= =?utf-8?B?44GC?=", "日本あ", 0);
	/* missing ?= at the end and before the next word */
	HEADER("=?UTF-8?B?44GC44GE44GG", "あいう", 0);
	HEADER("=?UTF-8?B?44GC=?UTF-8?B?44GE?=", "あい", 0);
	/* base64 broken by folding inside the word */
	HEADER("=?UTF-8?B?44GC\r\n 44GE?=", "あい", 0);
	/* unknown charset in a word: guessed */
	HEADER("=?x-unknown?B?k/qWe4zq?=", "日本語", 0);
	/* bad base64: decoded as far as possible, then U+FFFD */
	HEADER("=?UTF-8?B?44GC4!GE?= z", "あ" REPL " z", 1);
	/* not a word at all */
	HEADER("=?x?y?= and =? alone", "=?x?y?= and =? alone", 0);
	/* encoded CR LF cannot start a new header line */
	HEADER("=?utf-8?B?YQ0KQmNjOiBldmlsQGV4YW1wbGUuY29t?=", "a  Bcc: evil@example.com", 0);
	/* controls are visible */
	HEADER("a\x01"
	       "b",
	       "a" REPL "b", 1);
}

static void raw_8bit_headers(void)
{
	HEADER("Re: " TEXT_SJIS, "Re: " TEXT_UTF8, 0);
	HEADER("Re: " TEXT_JIS " (2)", "Re: " TEXT_UTF8 " (2)", 0);
	HEADER(TEXT_UTF8 " =?UTF-8?B?44GC?=", TEXT_UTF8 " あ", 0);
	/* "=?" inside a raw two-byte run is text, not a word */
	HEADER("\x1b$B=?$3\x1b(B", "戎こ", 0);
}

static size_t rfc2231(const char *v, struct strbuf *out)
{
	return charset_decode_rfc2231(v, strlen(v), out);
}

static void rfc2231_values(void)
{
	struct strbuf out;

	strbuf_init(&out, 0);
	CHECK(rfc2231("UTF-8''%E3%81%82.txt", &out) == 0);
	CHECK(strcmp(out.s, "あ.txt") == 0);
	strbuf_reset(&out);
	CHECK(rfc2231("iso-2022-jp'ja'%1B$B$%22%1B(B", &out) == 0);
	CHECK(strcmp(out.s, "あ") == 0);
	strbuf_reset(&out);
	CHECK(rfc2231("shift_jis'ja'%82%a0%zz", &out) == 0);
	CHECK(strcmp(out.s, "あ%zz") == 0);
	strbuf_reset(&out);
	CHECK(rfc2231("%E3%81%82%0D%0A", &out) == 0);
	CHECK(strcmp(out.s, "あ  ") == 0);
	strbuf_free(&out);
}

/* Decode ISO-2022-JP text back, strict. */
static void round_trip(const char *utf8, const char *want)
{
	struct strbuf jis, back;
	size_t i;

	strbuf_init(&jis, 0);
	strbuf_init(&back, 0);
	CHECK(charset_encode_iso2022jp(utf8, strlen(utf8), &jis) == 0);
	for (i = 0; i < jis.len; i++)
		CHECK((unsigned char)jis.s[i] < 0x80);
	CHECK(jis.len < 3 || memcmp(jis.s + jis.len - 3, "\x1b$B", 3) != 0);
	CHECK(charset_decode("iso-2022-jp", jis.s, jis.len, &back, NULL) == 0);
	if (strcmp(back.s ? back.s : "", want) != 0) {
		fprintf(stderr, "round trip of \"%s\" gave \"%s\"\n", utf8, back.s);
		failures++;
	}
	strbuf_free(&jis);
	strbuf_free(&back);
}

static void iso2022jp_round_trips(void)
{
	struct strbuf jis;

	round_trip(EXT_UTF8, EXT_UTF8);
	round_trip(TEXT_UTF8 "\nabc " EXT_UTF8 "\r\n", TEXT_UTF8 "\nabc " EXT_UTF8 "\n");
	round_trip("ⅰⅱ¬∵≒", "ⅰⅱ￢∵≒");
	/* half-width katakana go out full width (CP50220), voiced marks folded */
	round_trip("ｱｶﾞﾊﾟｳﾞｰ", "アガパヴー");
	/* the JIS spellings of CP932's characters are accepted */
	round_trip("〜−", "～－");

	strbuf_init(&jis, 0);
	/* every line ends in ASCII */
	CHECK(charset_encode_iso2022jp("あ\nb", 5, &jis) == 0);
	CHECK(strcmp(jis.s, "\x1b$B$\"\x1b(B\nb") == 0);
	strbuf_reset(&jis);
	/* what ISO-2022-JP cannot carry becomes 〓 and is counted */
	CHECK(charset_encode_iso2022jp("a\xf0\x9f\x98\x80\xe2\x82\xac\xff", 9, &jis) == 3);
	CHECK(strcmp(jis.s, "a\x1b$B\".\".\".\x1b(B") == 0);
	strbuf_reset(&jis);
	/* ESC in the input cannot switch sets */
	CHECK(charset_encode_iso2022jp("\x1b$B", 3, &jis) == 1);
	strbuf_free(&jis);
}

/* Base64 text of an encoded word to bytes (test helper, no checks). */
static void b64_decode(const char *t, size_t n, struct strbuf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0, bits = 0;
	size_t i;

	for (i = 0; i < n && t[i] != '='; i++) {
		const char *q = strchr(tab, t[i]);

		acc = acc << 6 | (unsigned)(q - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_putc(out, (char)(acc >> bits));
			acc &= (1u << bits) - 1;
		}
	}
}

/* One encoded word alone: decodes without replacement (no character is
 * split), and an ISO-2022-JP word ends in ASCII. */
static void check_word(const char *w, size_t n, bool jp)
{
	struct strbuf dec, raw;
	const char *text = jp ? w + 16 : w + 10;

	strbuf_init(&dec, 0);
	strbuf_init(&raw, 0);
	CHECK(charset_decode_header(w, n, &dec) == 0);
	CHECK(strncmp(w, jp ? "=?ISO-2022-JP?B?" : "=?UTF-8?B?", jp ? 16 : 10) == 0);
	b64_decode(text, n - (size_t)(text - w) - 2, &raw);
	if (jp && raw.len && memmem(raw.s, raw.len, "\x1b$B", 3))
		CHECK(raw.len >= 3 && memcmp(raw.s + raw.len - 3, "\x1b(B", 3) == 0);
	strbuf_free(&dec);
	strbuf_free(&raw);
}

/* Every line at most 78 bytes, CRLF-terminated, continuation lines start
 * with a space, every encoded word at most 75 bytes; the header decodes
 * back to the value (white space runs collapsed). */
static void check_encoded_header(const char *name, const char *value, bool jp, const char *want)
{
	struct strbuf out, dec;
	const char *p, *nl, *colon;
	size_t lines = 0;

	strbuf_init(&out, 0);
	strbuf_init(&dec, 0);
	charset_encode_header(name, value, strlen(value), jp, &out);
	for (p = out.s; *p; p = nl + 2) {
		const char *w;

		nl = strstr(p, "\r\n");
		CHECK(nl != NULL);
		if (!nl)
			break;
		if ((size_t)(nl - p) > 78)
			fprintf(stderr, "line of %zu bytes: %.*s\n", (size_t)(nl - p),
			        (int)(nl - p), p);
		CHECK((size_t)(nl - p) <= 78);
		CHECK(lines == 0 || *p == ' ');
		for (w = p; (w = strstr(w, "=?")) && w < nl;) {
			const char *e = strstr(w + 2, "?=");

			CHECK(e && e < nl);
			if (!e)
				break;
			/* "?B?" then "?=" */
			e = strstr(strstr(strstr(w + 2, "?") + 1, "?") + 1, "?=");
			CHECK(e && (size_t)(e + 2 - w) <= 75);
			if (e)
				check_word(w, (size_t)(e + 2 - w), jp);
			w = e ? e + 2 : nl;
		}
		lines++;
		if (nl[2] == '\0')
			break;
	}
	for (p = out.s; *p; p++)
		CHECK(*p != '\r' || p[1] == '\n');
	colon = strchr(out.s, ':');
	CHECK(colon != NULL);
	if (colon) {
		charset_decode_header(colon + 1, strlen(colon + 1), &dec);
		if (strcmp(dec.s ? dec.s : "", want) != 0) {
			fprintf(stderr, "encoded header\n%sdecodes to \"%s\", want \"%s\"\n", out.s,
			        dec.s, want);
			failures++;
		}
	}
	strbuf_free(&out);
	strbuf_free(&dec);
}

static void header_encoding_and_folding(void)
{
	static const char longjp[] =
	    "【重要】令和６年度 住民税の申告についてのお知らせ（第２報）①②③㈱Ⅰ～髙 "
	    "詳細は添付ファイルをご確認ください。ご不明な点がございましたら担当までご連絡"
	    "ください。";
	static const char mixed[] =
	    "Re: Fw: meeting 会議の件 on Monday, project sekisho 関所 and a rather long English "
	    "tail that has to fold at white space somewhere";
	struct strbuf out;
	int i;

	for (i = 0; i < 2; i++) {
		bool jp = i == 1;

		check_encoded_header("Subject", longjp, jp, longjp);
		check_encoded_header("Subject", mixed, jp, mixed);
		check_encoded_header("Subject", "plain ascii", jp, "plain ascii");
		check_encoded_header("Subject", "ｶﾞ", jp, jp ? "ガ" : "ｶﾞ");
		check_encoded_header("X-A-Very-Long-Header-Name-That-Eats-The-Line-Up", longjp, jp,
		                     longjp);
		check_encoded_header("Subject", "looks =?like?= a word", jp,
		                     "looks =?like?= a word");
		check_encoded_header("Subject",
		                     "averyveryveryveryveryveryveryveryveryveryveryveryveryveryvery"
		                     "longtokenwithoutanyspaceinit",
		                     jp,
		                     "averyveryveryveryveryveryveryveryveryveryveryveryveryveryvery"
		                     "longtokenwithoutanyspaceinit");
	}
	strbuf_init(&out, 0);
	/* a value cannot inject a header line */
	charset_encode_header("Subject", "a\r\nBcc: x@example.com", 22, false, &out);
	CHECK(strcmp(out.s, "Subject: a Bcc: x@example.com\r\n") == 0);
	strbuf_reset(&out);
	charset_encode_header("Subject", "日本 語", strlen("日本 語"), false, &out);
	CHECK(strcmp(out.s, "Subject: =?UTF-8?B?5pel5pysIOiqng==?=\r\n") == 0);
	strbuf_reset(&out);
	/* white space runs are one space, inside encoded words too */
	charset_encode_header("Subject", " 日本 \t\r\n 語 ", strlen(" 日本 \t\r\n 語 "), false,
	                      &out);
	CHECK(strcmp(out.s, "Subject: =?UTF-8?B?5pel5pysIOiqng==?=\r\n") == 0);
	strbuf_reset(&out);
	charset_encode_header("Subject", "日本", strlen("日本"), true, &out);
	CHECK(strcmp(out.s, "Subject: =?ISO-2022-JP?B?GyRCRnxLXBsoQg==?=\r\n") == 0);
	strbuf_free(&out);
}

static void output_limit(void)
{
	struct strbuf out;

	strbuf_init(&out, 8);
	charset_decode("iso-2022-jp", TEXT_JIS, sizeof(TEXT_JIS) - 1, &out, NULL);
	CHECK(out.overflow);
	CHECK(out.len <= 8);
	strbuf_free(&out);
}

int main(void)
{
	CHECK(charset_init());
	iso2022jp_cp50220_extensions();
	iso2022jp_halfwidth_katakana();
	iso2022jp_invalid_bytes();
	iso2022jp_line_without_return_to_ascii();
	iso2022jp_other_sets();
	cp932_aliases_and_extensions();
	cp932_invalid_bytes();
	eucjp_text_and_extensions();
	eucjp_invalid_bytes();
	utf8_invalid_sequences();
	control_characters();
	mislabelled_input();
	unknown_and_iconv_charsets();
	guesses();
	encoded_words();
	raw_8bit_headers();
	rfc2231_values();
	iso2022jp_round_trips();
	header_encoding_and_folding();
	output_limit();
	charset_cleanup();
	if (failures)
		fprintf(stderr, "charset_test: %d failures\n", failures);
	else
		printf("charset_test: ok\n");
	return failures ? 1 : 0;
}
