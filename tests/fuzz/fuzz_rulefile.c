/*
 * fuzz_rulefile - libFuzzer target over the rule-file parser and the policy
 * checker: any bytes through rulefile_load_buffer() + policy_check(), then
 * policy_free() and diag_reset(), so each input runs from a clean state.
 *
 * Diagnostics are written to /dev/null (not silenced) so that the quoting
 * of source lines with a caret runs too.  The date is pinned so that runs
 * are reproducible.
 */
#include "diag.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	static int inited;
	struct policy *p;

	if (!inited) {
		devnull = fopen("/dev/null", "w");
		diag_set_output(devnull); /* NULL (no output) if it cannot be opened */
		setenv("SEKISHO_TODAY", "2026-11-22", 1);
		inited = 1;
	}
	p = rulefile_load_buffer("fuzz.rules", (const char *)data, size);
	policy_check(p);
	policy_free(p);
	diag_reset();
	return 0;
}
