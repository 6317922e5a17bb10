/* What the program was built with, read from its own ELF image at start-up
 * (program.c). */
#ifndef PM_PROGRAM_H
#define PM_PROGRAM_H

#include <stdbool.h>

#pragma GCC visibility push(hidden)

/* Whether the main executable calls the allocation-token entry points
 * (it was built with -fsanitize=alloc-token): one of its dynamic symbols is
 * an undefined __alloc_token_*. Reads the loaded image only; takes no lock,
 * allocates nothing, makes no system call. False for a statically linked
 * program, whose references are resolved at link time. */
bool pm_program_has_tokens(void);

#pragma GCC visibility pop

#endif /* PM_PROGRAM_H */
