/* libFuzzer target for codezip_extract: any input either extracts within small limits
 * or fails leaving nothing behind (no output directory, no temporary sibling). */
#include "store/codezip.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char parent[] = "/tmp/fuzz-codezip-XXXXXX";
static char out[sizeof(parent) + 8];

static void remove_parent(void)
{
	codezip_rmtree(parent);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(parent)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(out, sizeof(out), "%s/out", parent);
	atexit(remove_parent);
	return 0;
}

/* Counts the entries in the parent directory, which holds only `out` after a success
 * and nothing after a failure. */
static int parent_entries(void)
{
	DIR *d = opendir(parent);
	if (!d)
		abort();
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct codezip_limits lim = {.max_unzipped_bytes = 1u << 20, .max_entries = 64};
	struct codezip_info info;
	struct err err = {0};
	struct stat st;

	int r = codezip_extract(data, size, out, &lim, &info, &err);
	if (r == 0) {
		if (info.unzipped_bytes > lim.max_unzipped_bytes || info.entries > lim.max_entries)
			abort();
		if (parent_entries() != 1 || lstat(out, &st) != 0 || !S_ISDIR(st.st_mode))
			abort();
		if (codezip_rmtree(out) != 0)
			abort();
	} else {
		if (r != -err.code || err.msg[0] == '\0')
			abort();
	}
	if (parent_entries() != 0)
		abort(); /* something was left half-made */
	return 0;
}
