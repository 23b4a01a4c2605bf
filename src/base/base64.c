#include "base64.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *ferry_base64_encode(const void *buf, size_t len)
{
	char *out = ferry_xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

unsigned char *ferry_base64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	/* Accept missing padding, which some tools write. */
	size_t pad = n % 4 ? 4 - n % 4 : 0;
	if (pad == 3)
		return NULL;
	char *in = ferry_xmalloc(n + pad + 1);
	memcpy(in, s, n);
	memset(in + n, '=', pad);
	in[n + pad] = '\0';
	n += pad;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		/* '=' only as the last one or two characters */
		bool ok = isalnum((unsigned char)c) || c == '+' || c == '/' ||
			  (c == '=' && i + 2 >= n && (i + 1 == n || in[i + 1] == '='));
		if (!ok) {
			explicit_bzero(in, n);
			free(in);
			return NULL;
		}
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t eq = 0;
	while (eq < n && eq < 2 && in[n - 1 - eq] == '=')
		eq++;
	unsigned char *out = ferry_xmalloc(n / 4 * 3 + 1);
	int got = n ? EVP_DecodeBlock(out, (unsigned char *)in, (int)n) : 0;
	explicit_bzero(in, n);
	free(in);
	if (got < 0 || (size_t)got < eq) {
		free(out);
		return NULL;
	}
	*len = (size_t)got - eq;
	out[*len] = '\0';
	return out;
}
