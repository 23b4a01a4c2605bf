/* TEMPORARY (sigs branch): replaced by the shared base64 helper at merge. */
#include "base64.h"
unsigned char *reg_base64_decode(const char *s, size_t *len);
unsigned char *ferry_base64_decode(const char *s, size_t *len) { return reg_base64_decode(s, len); }
