/*
 * nftprint - prints the nftgen IR as nft syntax: the text `sekisho show`
 * prints, that `nft -f` accepts and that loads the same table as `sekisho
 * apply` (the two are cross-checked by the tests).
 *
 * TRUST: the IR from nftgen_compile(); strings in it are already cleaned.
 * FAILURE: none (output goes to an unbounded strbuf; out of memory is fatal).
 */
#ifndef SEKISHO_NFTPRINT_H
#define SEKISHO_NFTPRINT_H

#include "nftgen.h"
#include "strbuf.h"

#include <stdbool.h>

/*
 * Append `table inet sekisho { ... }` to sb.  With with_digest the table
 * carries the comment "sekisho fnv1a64:<digest>"; without it, the text is
 * the body the digest is computed over.
 */
void nftprint_table(const struct nftgen_table *t, struct strbuf *sb, bool with_digest);

/* Format one address (4 or 16 bytes by family) into buf (at least 46 bytes). */
void nftprint_addr(int family, const uint8_t *a, char *buf, size_t n);

/* The comment stored in the table: NFTGEN_DIGEST_PREFIX + digest, into buf. */
void nftprint_table_comment(const struct nftgen_table *t, char *buf, size_t n);

#endif
