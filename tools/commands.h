/* The partmalloc command's subcommands. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process's exit status:
 * 0 success, 1 failure of the work itself, 2 a usage error (reported as one
 * line naming the bad argument and what is accepted). */
#ifndef PM_TOOLS_COMMANDS_H
#define PM_TOOLS_COMMANDS_H

#include <getopt.h>
#include <stdbool.h>

int cmd_run(int argc, char **argv);
int cmd_cc(int argc, char **argv);      /* also `c++`: argv[0] tells which */
int cmd_report(int argc, char **argv);
int cmd_stat(int argc, char **argv);

/* partmalloc cc's link step (tools/cc_link.c): clang runs this command as
 * its linker (ld, ld.lld, ... in the directory PM_CC_LINK_DIR_ENV names),
 * and it adds the companions of the program's allocation wrappers. */
#define PM_CC_LINK_DIR_ENV "PARTMALLOC_CC_LINK"
#define PM_CC_CLANG_ENV "PARTMALLOC_CC_CLANG"
bool cc_link_shim_called(const char *argv0);
int cmd_cc_link(int argc, char **argv);

/* Prints "partmalloc <sub>: <message>" on stderr and returns 2. */
int usage_error(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "partmalloc <sub>: <message>" on stderr and returns 1. */
int fail(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long, silent (the subcommand words its own errors). *arg is the
 * argument it looked at, as given: after '?' (an unknown option) or ':'
 * (an option without its value) the one to name; after -1 "--" if that
 * ended the options, else NULL. Each subcommand answers --help and -h. */
int next_option(int argc, char **argv, const char *shortopts, const struct option *longopts, const char **arg);

/* Where the command finds the library and headers it was installed with:
 * the directory of the running executable (build tree) or PREFIX/lib. */
const char *tool_lib_dir(void);
const char *tool_include_dir(void);

#endif
