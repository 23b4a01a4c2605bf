/* TEMPORARY (sigs branch): replaced by the shared base64 helper at merge. */
#ifndef FERRY_BASE64_H
#define FERRY_BASE64_H
#include <stddef.h>
unsigned char *ferry_base64_decode(const char *s, size_t *len);
#endif
