/*
 * html_text_bench - HTML -> text (html_text) against libxml2's HTML SAX
 * parser on the same input, in one run.
 *
 * The corpus is generated (deterministic): mail newsletters as they come
 * from municipal and commercial senders - a head with CSS and Outlook
 * conditional comments, nested layout tables whose cells carry inline
 * styles, Japanese paragraphs with links (tracking query strings),
 * entities, lists, a data table, images with alt text.  Or give HTML files
 * as arguments: each is one document.
 *
 * Contenders, each over every document, best of BENCH_ROUNDS rounds (in
 * each round every contender runs once, in turn):
 *   html_text      html_text_convert() (tokenize + convert, text built)
 *   html_text/4k   html_text_feed() in 4 KiB chunks (the streaming path)
 *   html_tok       the tokenizer alone, callbacks that do nothing
 *   libxml2 SAX    htmlCreatePushParserCtxt + htmlParseChunk, UTF-8 given,
 *                  a SAX handler whose characters/cdata/whitespace callbacks
 *                  only collect the characters (the anchor)
 * Prints MB/s for each and html_text / libxml2 against the target (>= 5x).
 *
 * usage: html_text_bench [-m MB] [-r ROUNDS] [-o text|tok|libxml2] [-w FILE] [FILE.html...]
 * (-o: run only that contender, for profiling; -w: also write the corpus,
 * documents one after the other, to FILE)
 */
#include "html_text.h"
#include "html_tok.h"
#include "strbuf.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_ROUNDS 5

struct bench_doc {
	char *s;
	size_t len;
};

struct bench_corpus {
	struct bench_doc *v;
	size_t n, cap, bytes;
};

static uint64_t bench_rng = 0x9E3779B97F4A7C15ull;

static uint32_t bench_rand(uint32_t n)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (uint32_t)(bench_rng % n);
}

static const char *const bench_sentences[] = {
    "市民の皆さま、いつも市政にご理解とご協力をいただき、ありがとうございます。",
    "今月は台風シーズンを迎えるにあたり、家庭でできる防災対策についてお知らせします。",
    "避難所の開設状況は、市ホームページおよび防災行政無線でお知らせします。",
    "飲料水と非常食は、最低でも３日分、できれば１週間分を備蓄しましょう。",
    "マイナンバーカードの申請窓口は、土曜日も午前９時から午後５時まで開設しています。",
    "令和６年度の住民税の納付期限は、各期の月末となっておりますのでご注意ください。",
    "図書館では、夏休み期間中に子ども向けの読み聞かせ会を開催します。",
    "ごみの分別方法が一部変わります。詳しくは同封のチラシをご確認ください。",
    "新型インフルエンザの予防接種について、対象となる方へ個別に通知を送付しました。",
    "Our quarterly newsletter brings you the latest updates from the city office.",
    "Registration for the autumn sports festival opens on Monday, September 2nd.",
    "（お問い合わせ）総務部 危機管理課　電話：０３－１２３４－５６７８",
};

static const char *const bench_entities[] = {
    "&nbsp;", "&amp;", "&copy;", "&#x3042;", "&#12354;", "&quot;", "&lt;", "&gt;", "&rarr;",
};

static void bench_para(struct strbuf *b)
{
	int i, k = 2 + (int)bench_rand(5);

	strbuf_puts(b, "<p style=\"margin:0 0 16px 0;font-size:15px;line-height:1.7;color:#333333;"
	               "font-family:'Hiragino Kaku Gothic ProN',Meiryo,sans-serif;\">\n");
	for (i = 0; i < k; i++) {
		strbuf_puts(b, bench_sentences[bench_rand(sizeof(bench_sentences) /
		                                          sizeof(bench_sentences[0]))]);
		switch (bench_rand(8)) {
		case 0:
			strbuf_puts(b, "<br>\n");
			break;
		case 1:
			strbuf_printf(
			    b,
			    "<a href=\"https://www.city.example.lg.jp/news/%u.html?utm_source="
			    "newsletter&amp;utm_medium=email&amp;utm_campaign=2024_%02u\" "
			    "style=\"color:#0066cc;text-decoration:underline;\" "
			    "target=\"_blank\">詳しくはこちら</a>",
			    bench_rand(100000), bench_rand(12) + 1);
			break;
		case 2:
			strbuf_puts(b, "<strong>");
			strbuf_puts(b, "重要なお知らせ");
			strbuf_puts(b, "</strong>");
			break;
		case 3:
			strbuf_puts(b, bench_entities[bench_rand(sizeof(bench_entities) /
			                                         sizeof(bench_entities[0]))]);
			break;
		default:
			strbuf_puts(b, "\n");
			break;
		}
	}
	strbuf_puts(b, "</p>\n");
}

static void bench_list(struct strbuf *b)
{
	int i, k = 3 + (int)bench_rand(5);

	strbuf_puts(b, "<ul style=\"margin:0 0 16px 20px;padding:0;\">\n");
	for (i = 0; i < k; i++) {
		strbuf_puts(b, "<li style=\"margin:0 0 6px 0;font-size:15px;\">");
		strbuf_puts(b, bench_sentences[bench_rand(sizeof(bench_sentences) /
		                                          sizeof(bench_sentences[0]))]);
		strbuf_puts(b, "</li>\n");
	}
	strbuf_puts(b, "</ul>\n");
}

static void bench_table(struct strbuf *b)
{
	int r, rows = 3 + (int)bench_rand(6);

	strbuf_puts(b, "<table border=\"1\" cellpadding=\"6\" cellspacing=\"0\" "
	               "style=\"border-collapse:collapse;width:100%;font-size:14px;\">\n"
	               "<tr><th style=\"background:#eeeeee;\">施設名</th>"
	               "<th style=\"background:#eeeeee;\">所在地</th>"
	               "<th style=\"background:#eeeeee;\">開館時間</th></tr>\n");
	for (r = 0; r < rows; r++)
		strbuf_printf(b,
		              "<tr><td style=\"padding:6px;\">第%u公民館</td>"
		              "<td style=\"padding:6px;\">本町%u丁目%u番地</td>"
		              "<td style=\"padding:6px;\">9:00&nbsp;&ndash;&nbsp;17:00</td></tr>\n",
		              bench_rand(20) + 1, bench_rand(9) + 1, bench_rand(30) + 1);
	strbuf_puts(b, "</table>\n");
}

static void bench_newsletter(struct strbuf *b, size_t target)
{
	strbuf_puts(
	    b,
	    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
	    "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"
	    "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"ja\"><head>\n"
	    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n"
	    "<title>○○市 メールマガジン</title>\n"
	    "<style type=\"text/css\">\n"
	    "body{margin:0;padding:0;-webkit-text-size-adjust:100%;}\n"
	    "table,td{border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt;}\n"
	    "img{border:0;height:auto;line-height:100%;outline:none;text-decoration:none;}\n"
	    "@media only screen and (max-width:600px){.wrap{width:100%!important;}"
	    ".col{display:block!important;width:100%!important;}}\n"
	    "</style>\n"
	    "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings><o:AllowPNG/>"
	    "<o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->\n"
	    "</head>\n<body style=\"margin:0;padding:0;background-color:#f4f4f4;\">\n"
	    "<span style=\"display:none;font-size:1px;color:#f4f4f4;max-height:0px;"
	    "overflow:hidden;\">今月のお知らせをお届けします。&nbsp;&zwnj;&nbsp;&zwnj;</span>\n"
	    "<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
	    "bgcolor=\"#f4f4f4\"><tr><td align=\"center\" style=\"padding:20px 0;\">\n"
	    "<!--[if mso]><table width=\"600\"><tr><td><![endif]-->\n"
	    "<table class=\"wrap\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" "
	    "style=\"background:#ffffff;\">\n"
	    "<tr><td style=\"padding:20px;background:#003366;\">"
	    "<a href=\"https://www.city.example.lg.jp/\"><img "
	    "src=\"https://www.city.example.lg.jp/mail/img/logo.png\" alt=\"○○市\" width=\"160\" "
	    "height=\"40\" style=\"display:block;\" border=\"0\"></a></td></tr>\n");
	while (b->len < target) {
		strbuf_puts(b, "<tr><td class=\"col\" style=\"padding:20px 24px;font-family:"
		               "'Hiragino Kaku Gothic ProN',Meiryo,sans-serif;\">\n");
		strbuf_puts(b, "<h2 style=\"font-size:19px;margin:0 0 12px 0;color:#003366;\">"
		               "■ お知らせ</h2>\n");
		bench_para(b);
		switch (bench_rand(4)) {
		case 0:
			bench_list(b);
			break;
		case 1:
			bench_table(b);
			break;
		case 2:
			strbuf_puts(
			    b, "<img src=\"https://www.city.example.lg.jp/mail/img/photo.jpg\" "
			       "alt=\"会場の様子\" width=\"552\" style=\"display:block;"
			       "width:100%;max-width:552px;\">\n");
			break;
		default:
			bench_para(b);
			break;
		}
		strbuf_puts(b, "</td></tr>\n");
	}
	strbuf_puts(b, "<tr><td style=\"padding:16px;font-size:11px;color:#888888;\" "
	               "align=\"center\">このメールは送信専用です。&copy; 2024 ○○市<br>"
	               "<a href=\"https://mail.city.example.lg.jp/unsubscribe?id=123&amp;k=abc\" "
	               "style=\"color:#888888;\">配信停止</a></td></tr>\n"
	               "</table>\n<!--[if mso]></td></tr></table><![endif]-->\n"
	               "</td></tr></table>\n</body>\n</html>\n");
}

static void bench_add(struct bench_corpus *c, char *s, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (!c->v) {
			perror("realloc");
			exit(2);
		}
	}
	c->v[c->n].s = s;
	c->v[c->n].len = len;
	c->n++;
	c->bytes += len;
}

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- contenders ------------------------------------------------------- */

static size_t bench_sink; /* keeps results alive */

static void bench_run_html_text(const struct bench_corpus *c)
{
	struct strbuf out;
	size_t i;

	strbuf_init(&out, 0);
	for (i = 0; i < c->n; i++) {
		strbuf_reset(&out);
		html_text_convert(c->v[i].s, c->v[i].len, &out);
		bench_sink += out.len;
	}
	strbuf_free(&out);
}

static void bench_run_html_text_4k(const struct bench_corpus *c)
{
	struct strbuf out;
	size_t i, off;

	strbuf_init(&out, 0);
	for (i = 0; i < c->n; i++) {
		struct html_text *h;

		strbuf_reset(&out);
		h = html_text_new(&out);
		for (off = 0; off < c->v[i].len; off += 4096)
			html_text_feed(h, c->v[i].s + off,
			               c->v[i].len - off < 4096 ? c->v[i].len - off : 4096);
		html_text_finish(h);
		bench_sink += out.len;
	}
	strbuf_free(&out);
}

static void bench_tok_text(void *ctx, const char *s, size_t n)
{
	*(size_t *)ctx += n;
}

static void bench_tok_token(void *ctx, const struct html_tok_token *t)
{
	*(size_t *)ctx += t->nattrs;
}

static void bench_run_html_tok(const struct bench_corpus *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++) {
		struct html_tok *t = html_tok_new(bench_tok_text, bench_tok_token, &n);

		html_tok_feed(t, c->v[i].s, c->v[i].len);
		html_tok_finish(t);
		html_tok_free(t);
	}
	bench_sink += n;
}

static void bench_xml_chars(void *ctx, const xmlChar *ch, int len)
{
	xmlParserCtxtPtr p = ctx;

	strbuf_append(p->_private, ch, (size_t)len);
}

static void bench_run_libxml2(const struct bench_corpus *c)
{
	xmlSAXHandler sax;
	struct strbuf out;
	size_t i;

	memset(&sax, 0, sizeof(sax));
	sax.characters = bench_xml_chars;
	sax.cdataBlock = bench_xml_chars;
	sax.ignorableWhitespace = bench_xml_chars;
	strbuf_init(&out, 0);
	for (i = 0; i < c->n; i++) {
		htmlParserCtxtPtr p =
		    htmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL, XML_CHAR_ENCODING_UTF8);

		strbuf_reset(&out);
		p->_private = &out;
		p->userData = p;
		htmlCtxtUseOptions(p, HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
		                          HTML_PARSE_COMPACT);
		htmlParseChunk(p, c->v[i].s, (int)c->v[i].len, 0);
		htmlParseChunk(p, NULL, 0, 1);
		htmlFreeParserCtxt(p);
		bench_sink += out.len;
	}
	strbuf_free(&out);
}

/* MB/s of one run of each contender, best of rounds; the contenders take
 * turns within a round so that a change in machine load hits all of them. */
static void bench_rounds(void (*const run[])(const struct bench_corpus *), double *mbs, int n,
                         const struct bench_corpus *c, int rounds)
{
	double best[8];
	int r, i;

	for (i = 0; i < n; i++)
		best[i] = 1e30;
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			double t0 = bench_now(), t;

			run[i](c);
			t = bench_now() - t0;
			if (t < best[i])
				best[i] = t;
		}
	}
	for (i = 0; i < n; i++)
		mbs[i] = (double)c->bytes / 1e6 / best[i];
}

int main(int argc, char **argv)
{
	struct bench_corpus c = {0};
	size_t mb = 50;
	int rounds = BENCH_ROUNDS, i;
	bool generated = false;
	const char *only = NULL, *dump = NULL;
	double ours, stream, tok, anchor, mbs[4];
	void (*const all[])(const struct bench_corpus *) = {
	    bench_run_html_text, bench_run_html_text_4k, bench_run_html_tok, bench_run_libxml2};

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
			mb = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			dump = argv[++i];
		} else {
			struct strbuf f;

			strbuf_init(&f, 0);
			if (!strbuf_read_file(&f, argv[i])) {
				perror(argv[i]);
				return 2;
			}
			bench_add(&c, f.s ? f.s : strdup(""), f.len);
		}
	}
	if (rounds < 1)
		rounds = 1;
	if (c.n == 0) {
		generated = true;
		while (c.bytes < mb * 1000 * 1000) {
			struct strbuf b;

			strbuf_init(&b, 0);
			bench_newsletter(&b, 8000 + bench_rand(60000));
			bench_add(&c, b.s, b.len);
		}
	}
	if (dump) {
		FILE *f = fopen(dump, "w");
		size_t k;

		for (k = 0; f && k < c.n; k++)
			fwrite(c.v[k].s, 1, c.v[k].len, f);
		if (!f || fclose(f) != 0) {
			perror(dump);
			return 2;
		}
	}
	xmlInitParser();
	printf("corpus: %zu documents, %.1f MB%s; best of %d rounds\n", c.n, (double)c.bytes / 1e6,
	       generated ? " (generated newsletters)" : "", rounds);
	if (only) {
		void (*const one[])(const struct bench_corpus *) = {
		    strcmp(only, "tok") == 0       ? bench_run_html_tok
		    : strcmp(only, "libxml2") == 0 ? bench_run_libxml2
		                                   : bench_run_html_text};

		bench_rounds(one, mbs, 1, &c, rounds);
		printf("%s: %.1f MB/s\n", only, mbs[0]);
		return 0;
	}
	bench_rounds(all, mbs, 4, &c, rounds);
	ours = mbs[0];
	stream = mbs[1];
	tok = mbs[2];
	anchor = mbs[3];
	printf("html_text (convert)      %8.1f MB/s\n", ours);
	printf("html_text (4 KiB chunks) %8.1f MB/s\n", stream);
	printf("html_tok (tokens only)   %8.1f MB/s\n", tok);
	printf("libxml2 HTML SAX         %8.1f MB/s   (anchor, libxml2 %s)\n", anchor,
	       xmlParserVersion);
	printf("html_text / libxml2: %.2fx (target >= 5x): %s\n", ours / anchor,
	       ours / anchor >= 5.0 ? "met" : "NOT met");
	xmlCleanupParser();
	for (i = 0; (size_t)i < c.n; i++)
		free(c.v[i].s);
	free(c.v);
	return bench_sink == 0;
}
