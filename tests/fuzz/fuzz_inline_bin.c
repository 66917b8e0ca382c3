/*
 * fuzz_inline_bin - libFuzzer target over inline_bin_find(): any bytes as
 * body text.  Besides the sanitizers it checks the contract and traps when
 * it is broken: blocks sorted and not overlapping, whole lines inside the
 * text, decoded size within the encoded size (BinHex:
 * INLINE_BIN_BINHEX_EXPAND times), names bounded and free of controls.
 */
#include "inline_bin.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct inline_block *b;
	size_t n = inline_bin_find(text, size, &b);

	if ((n == 0) != (b == NULL) || n > INLINE_BIN_MAX_BLOCKS)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		size_t span = b[i].end - b[i].start;
		size_t limit = span;
		if (b[i].start >= b[i].end || b[i].end > size)
			__builtin_trap();
		if (i > 0 && b[i].start < b[i - 1].end)
			__builtin_trap();
		if ((b[i].start > 0 && text[b[i].start - 1] != '\n') ||
		    (b[i].end < size && text[b[i].end - 1] != '\n'))
			__builtin_trap();
		if (!strcmp(b[i].kind, "BinHex"))
			limit = span * INLINE_BIN_BINHEX_EXPAND;
		if (b[i].data.len > limit)
			__builtin_trap();
		if (b[i].name) {
			size_t len = strlen(b[i].name);
			if (len == 0 || len > INLINE_BIN_MAX_NAME_BYTES)
				__builtin_trap();
			for (size_t k = 0; k < len; k++)
				if ((unsigned char)b[i].name[k] < 0x20 || b[i].name[k] == 0x7f)
					__builtin_trap();
		}
	}
	inline_bin_free(b, n);
	return 0;
}
