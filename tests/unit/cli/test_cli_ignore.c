/* The CLI's .lambdadignore patterns: gitignore's globbing, anchoring, directory-only
 * patterns, negation (last match wins) and lambdad's defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli/cli_int.h"

static struct cli_ignore *pats(const char *const *lines)
{
	struct cli_ignore *ig = cli_ignore_new(false);
	for (size_t i = 0; lines[i]; i++)
		cli_ignore_add(ig, lines[i], strlen(lines[i]));
	return ig;
}

#define EXCLUDED(ig, path, dir) assert_true(cli_ignore_match(ig, path, dir))
#define KEPT(ig, path, dir) assert_false(cli_ignore_match(ig, path, dir))

static void test_basename_globs(void **state)
{
	struct cli_ignore *ig = pats((const char *[]){"*.log", "tmp?", "[ab]x.c", "[!0-9]y", NULL});
	EXCLUDED(ig, "a.log", false);
	EXCLUDED(ig, "deep/er/b.log", false);
	KEPT(ig, "a.log.1", false);
	EXCLUDED(ig, "tmp1", true);
	KEPT(ig, "tmp12", false);
	EXCLUDED(ig, "src/ax.c", false);
	KEPT(ig, "cx.c", false);
	EXCLUDED(ig, "zy", false);
	KEPT(ig, "5y", false);
	cli_ignore_free(ig);
}

static void test_anchored_and_dirs(void **state)
{
	struct cli_ignore *ig = pats((const char *[]){"/build", "docs/*.md", "cache/", "# a comment", "",
	                                              "  ", "lib/**/test", "out/**", "**/secret", NULL});
	EXCLUDED(ig, "build", true);
	KEPT(ig, "src/build", true); /* anchored at the top */
	EXCLUDED(ig, "docs/a.md", false);
	KEPT(ig, "docs/sub/a.md", false); /* '*' stops at '/' */
	KEPT(ig, "x/docs/a.md", false);
	EXCLUDED(ig, "cache", true);
	EXCLUDED(ig, "a/b/cache", true);
	KEPT(ig, "cache", false); /* a file named cache stays */
	EXCLUDED(ig, "lib/test", true);
	EXCLUDED(ig, "lib/a/b/test", true);
	KEPT(ig, "lib/atest", true);
	EXCLUDED(ig, "out/x", false);
	EXCLUDED(ig, "out/x/y", false);
	KEPT(ig, "out", true);
	EXCLUDED(ig, "secret", false);
	EXCLUDED(ig, "a/b/secret", false);
	KEPT(ig, "# a comment", false);
	cli_ignore_free(ig);
}

static void test_negation_and_escapes(void **state)
{
	struct cli_ignore *ig =
	    pats((const char *[]){"*.txt", "!keep.txt", "\\!bang", "\\#hash", "trail\\ ", "spaces   ", NULL});
	EXCLUDED(ig, "a.txt", false);
	KEPT(ig, "keep.txt", false);
	KEPT(ig, "sub/keep.txt", false);
	EXCLUDED(ig, "!bang", false);
	EXCLUDED(ig, "#hash", false);
	EXCLUDED(ig, "trail ", false);
	EXCLUDED(ig, "spaces", false); /* trailing blanks dropped */
	cli_ignore_free(ig);
	ig = pats((const char *[]){"!keep.txt", "*.txt", NULL}); /* the last match wins */
	EXCLUDED(ig, "keep.txt", false);
	cli_ignore_free(ig);
}

static void test_defaults(void **state)
{
	struct cli_ignore *ig = cli_ignore_new(true);
	EXCLUDED(ig, ".git", true);
	EXCLUDED(ig, ".git", false); /* a worktree's .git file */
	EXCLUDED(ig, ".venv", true);
	EXCLUDED(ig, "__pycache__", true);
	EXCLUDED(ig, ".lambdadignore", false);
	KEPT(ig, "pkg/__pycache__", true); /* pip install -t's compiled code stays */
	KEPT(ig, "vendor/.git", true);
	KEPT(ig, "app.py", false);
	cli_ignore_add(ig, "!/__pycache__/", strlen("!/__pycache__/"));
	KEPT(ig, "__pycache__", true); /* the user can keep what the defaults leave out */
	cli_ignore_free(ig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basename_globs),
	    cmocka_unit_test(test_anchored_and_dirs),
	    cmocka_unit_test(test_negation_and_escapes),
	    cmocka_unit_test(test_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
