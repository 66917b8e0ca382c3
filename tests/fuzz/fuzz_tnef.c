/*
 * fuzz_tnef - libFuzzer target over tnef_list(): any bytes as a TNEF
 * stream.  Besides the sanitizers it checks the contract and traps when it
 * is broken: at most 1000 attachments, data inside the input buffer, names
 * non-empty valid UTF-8 without control characters.
 */
#include "tnef.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t len = s[0] < 0x80                    ? 1
	             : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
	             : s[0] >= 0xe0 && s[0] <= 0xef ? 3
	             : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
	                                            : 0;
	uint32_t cp = len == 1 ? s[0] : s[0] & (0x7f >> len);

	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tnef_file *f;
	bool ok;
	size_t n = tnef_list(data, size, &f, &ok);

	if ((n == 0) != (f == NULL) || n > 1000)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (f[i].size && (f[i].data < data || f[i].size > size ||
		                  (size_t)(f[i].data - data) > size - f[i].size))
			__builtin_trap();
		if (f[i].name) {
			const unsigned char *s = (const unsigned char *)f[i].name;
			if (!*s)
				__builtin_trap();
			while (*s) {
				size_t k = utf8_len(s);
				if (k == 0 || *s < 0x20 || *s == 0x7f)
					__builtin_trap();
				s += k;
			}
		}
	}
	tnef_free(f, n);
	return 0;
}
