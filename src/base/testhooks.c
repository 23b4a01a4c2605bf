/*
 * testhooks.c - the test hooks (listed in testhooks.h), read from the
 * environment once.
 */
#include "testhooks.h"

#include <pthread.h>

#include "util.h"

static ferry_testhook_values hooks;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void read_hooks(void)
{
	hooks.one_lane = ferry_env_size("FERRY_LANES_TEST", 1, 2, 2) == 1;
	hooks.push_small = ferry_env_size("FERRY_PUSH_SMALL_TEST", 0, FERRY_HOOK_UNSET, FERRY_HOOK_UNSET);
	hooks.upload_chunk = ferry_env_size("FERRY_UPLOAD_CHUNK_TEST", 0, FERRY_HOOK_UNSET, FERRY_HOOK_UNSET);
}

const ferry_testhook_values *ferry_testhooks(void)
{
	pthread_once(&hooks_once, read_hooks);
	return &hooks;
}

size_t ferry_testhook_or(size_t hook, size_t lo, size_t hi, size_t def)
{
	return hook != FERRY_HOOK_UNSET && hook >= lo && hook <= hi ? hook : def;
}
