/*
 * utf8_check - the ways html_tok checks its input for UTF-8 (AVX2 and SSSE3
 * blocks, the scalar loop) must stop at the same byte for any input:
 * random strings of valid and invalid UTF-8 pieces, CRs and ASCII, as
 * long as a few 64-byte blocks.  Includes html_tok.c to reach its static
 * functions.  Exit 0 if they agree everywhere (77: no SSSE3 here), 1 if not.
 */
#include "html_tok.c"

#include <stdio.h>

int main(void)
{
	static const unsigned char piece[][4] = {
	    {'a'},
	    {'\r'},
	    {0xE3, 0x81, 0x82},
	    {0xC3, 0xA9},
	    {0xF0, 0x9F, 0x98, 0x80},
	    {0x80},
	    {0xC0},
	    {0xE0, 0x80},
	    {0xED, 0xA0, 0x80},
	    {0xF4, 0x90},
	    {0xFF},
	    {0xE3},
	    {0xE3, 0x81},
	    {0xEF, 0xBF, 0xBF},
	    {0xE0, 0xA0, 0x80},
	    {0xC2},
	    {0xF4, 0x8F, 0xBF, 0xBF},
	    {0xF5, 0x80, 0x80, 0x80},
	    {0xED, 0x9F, 0xBF},
	    {0xF0, 0x90, 0x80, 0x80},
	};
	static const int plen[] = {1, 1, 3, 2, 4, 1, 1, 2, 3, 2, 1, 1, 2, 3, 3, 1, 4, 4, 3, 4};
	unsigned char buf[400];
	uint64_t seed = 1;
	long it, bad = 0;
	int avx2;

#ifdef HTML_TOK_SSSE3
	if (!__builtin_cpu_supports("ssse3"))
		return 77;
	avx2 = __builtin_cpu_supports("avx2");
	for (it = 0; it < 1000000; it++) {
		size_t n = 0;
		int i, pieces, mode;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		pieces = (int)((seed >> 33) % 120);
		mode = (int)((seed >> 20) % 4);
		for (i = 0; i < pieces && n < 390; i++) {
			int f;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			f = (int)((seed >> 33) % 20);
			if (mode == 0 && f > 4)
				f = (int)((seed >> 40) % 5); /* mostly valid */
			else if (mode == 1 && f != 2 && f != 0)
				f = (seed >> 40) & 1 ? 2 : 0; /* valid Japanese and ASCII */
			memcpy(buf + n, piece[f], (size_t)plen[f]);
			n += (size_t)plen[f];
		}
		if (html_tok_skip_valid_scalar(buf, buf + n) !=
		        html_tok_skip_valid_ssse3(buf, buf + n) &&
		    bad++ < 5)
			fprintf(stderr, "utf8_check: the two ways differ on case %ld (%zu bytes)\n",
			        it, n);
	}
	printf("utf8_check: %ld of 1000000 cases differ (AVX2 %s)\n", bad,
	       avx2 ? "checked too" : "not available");
	return bad != 0;
#else
	(void)piece;
	(void)plen;
	(void)buf;
	(void)seed;
	(void)it;
	(void)bad;
	(void)avx2;
	return 77;
#endif
}
