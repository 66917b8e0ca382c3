/*
 * fuzz_audit_verify - libFuzzer target over the audit log verifier
 * (common/audit.c): the line parser, the whole-file verifier (over a
 * memfd), the head parser and the JSON member/count helpers.  Checks: a
 * line that parses is exactly the canonical layout rebuilt from its fields
 * (nothing outside the HMAC'd bytes can vary), its HMAC is deterministic,
 * and the verifier's answer is 0, 1 or 2 with a report that names the file.
 */
#include "audit.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = "sekisho-fuzz-key-0123456789abcde";

static void fuzz_line(const char *line, size_t len)
{
	struct audit_rec r;
	struct strbuf again = STRBUF_INIT;
	char mac1[AUDIT_HEX_LEN + 1], mac2[AUDIT_HEX_LEN + 1];
	const char *v;
	size_t vl;

	if (audit_parse_line(line, len, &r) != NULL)
		return;
	strbuf_printf(&again, "{\"seq\":%llu,\"time\":%lld,\"type\":\"%s\",\"data\":",
	              (unsigned long long)r.seq, (long long)r.time, r.type);
	strbuf_append(&again, r.data, r.data_len);
	strbuf_printf(&again, ",\"prev\":\"%s\",\"hmac\":\"%s\"}", r.prev, r.hmac);
	if (again.len != len || memcmp(again.s, line, len) != 0)
		abort();
	if (r.body_len >= len || line[r.body_len] != ',')
		abort();
	audit_hmac_hex(fuzz_key, sizeof(fuzz_key), line, &r, mac1);
	audit_hmac_hex(fuzz_key, sizeof(fuzz_key), line, &r, mac2);
	if (strlen(mac1) != AUDIT_HEX_LEN || strcmp(mac1, mac2) != 0)
		abort();
	if (audit_json_member(r.data, r.data_len, "count", &v, &vl) &&
	    (v < r.data || v + vl > r.data + r.data_len))
		abort();
	strbuf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct audit_head_ref h;
	struct strbuf rep = STRBUF_INIT;
	char path[64], head[160];
	const char *v;
	size_t vl;
	long n;
	int fd, rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		fuzz_line(p, len);
		p += len + (nl ? 1 : 0);
	}
	if (audit_json_member((const char *)data, size, "viruses", &v, &vl)) {
		n = audit_json_count(v, vl);
		if (v < (const char *)data || v + vl > end || n < -1)
			abort();
	}
	vl = size < sizeof(head) - 1 ? size : sizeof(head) - 1;
	memcpy(head, data, vl);
	head[vl] = '\0';
	if (audit_head_parse(head, &h) && (h.seq == 0 || strlen(h.hmac) != AUDIT_HEX_LEN))
		abort();

	fd = memfd_create("fuzz_audit", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rc = audit_verify(path, "log", fuzz_key, sizeof(fuzz_key), NULL, &rep);
		if (rc < 0 || rc > 2 || !rep.s || strncmp(rep.s, "log", 3) != 0)
			abort();
	}
	close(fd);
	strbuf_free(&rep);
	return 0;
}
