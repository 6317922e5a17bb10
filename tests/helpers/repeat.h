/* Macros that write code many times over, for the programs that need many
 * distinct call sites (tests/helpers/sites.c, tests/partitions/site_search.c).
 *
 * X<n>(F, k) expands F once per n-bit binary suffix of k: 2^n expansions. */
#ifndef PM_TESTS_REPEAT_H
#define PM_TESTS_REPEAT_H

#define X1(F, k) F(k##0) F(k##1)
#define X2(F, k) X1(F, k##0) X1(F, k##1)
#define X3(F, k) X2(F, k##0) X2(F, k##1)
#define X4(F, k) X3(F, k##0) X3(F, k##1)
#define X5(F, k) X4(F, k##0) X4(F, k##1)
#define X6(F, k) X5(F, k##0) X5(F, k##1)
#define X7(F, k) X6(F, k##0) X6(F, k##1)
#define X8(F, k) X7(F, k##0) X7(F, k##1)
#define X9(F, k) X8(F, k##0) X8(F, k##1)
#define X10(F, k) X9(F, k##0) X9(F, k##1)

#endif
