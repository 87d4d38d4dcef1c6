/* Checks and extracts an uploaded deployment package (zip) safely. */
#ifndef LAMBDAD_STORE_CODEZIP_H
#define LAMBDAD_STORE_CODEZIP_H

#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#define CODEZIP_MAX_UNZIPPED (262144000ull) /* 250 MB, Lambda's limit */
#define CODEZIP_MAX_ENTRIES 100000u

struct codezip_limits {
	uint64_t max_unzipped_bytes; /* sum of extracted file sizes, counted while writing */
	uint32_t max_entries;
};

struct codezip_info {
	uint64_t unzipped_bytes;
	uint32_t entries;
	int has_bootstrap; /* a regular file named "bootstrap" at the root */
};

/* Extracts the zip in data[0..len) into a new directory `dir` (which must not exist;
 * its parent must). Refuses entries with absolute paths or ".." components, symlinks
 * whose target leaves the root, hard links, devices, FIFOs, and more than the limits
 * (counted from bytes actually written, not the headers). Regular files are 0644 plus
 * the execute bits the zip's external attributes give (never setuid, setgid or sticky);
 * "bootstrap" at the root is made 0755; directories are 0755. Files, directories and
 * symlinks keep the zip's modification times (so a package's compiled .pyc files stay
 * valid against their sources). Blocks only on the filesystem: callable from a worker
 * thread.
 * Returns 0 and fills *info; on failure returns a negative errno with a message fit
 * for a user (-EINVAL malformed zip, -EFBIG past a limit, -EPERM an unsafe entry)
 * and leaves nothing at `dir`. lim NULL means the default limits above. */
int codezip_extract(const void *data, size_t len, const char *dir, const struct codezip_limits *lim,
                    struct codezip_info *info, struct err *errp);

/* Removes a directory tree (used for cleanup); returns 0 or a negative errno. */
int codezip_rmtree(const char *dir);

#endif
